"""Train TFill: both stages, from scratch, from a pretrained checkpoint, or personalised.

Read this file from top to bottom: configuration, processes, run folder, data, model, losses,
then one loop per stage (forward, one D step, one G step, log, validate, checkpoint).

Launch::

    # one GPU (or CPU): the official recipe from scratch, coarse then refine
    triple-dots train --data data/ffhq --out runs/m2 --stage both --mode scratch --iterations 100000 --batch-size 8

    # fine-tune the official FFHQ model (weights registry key or a folder of latest_net_*.pth)
    triple-dots train --data data/faces --out runs/m3 --mode pretrained --weights tfill-ffhq --iterations 50000

    # personalise on 100-200 selfies: lower LR, validation every 50 steps, early stopping
    triple-dots train --data data/me --out runs/me --mode personalise --weights runs/m3/checkpoints/iter_00050000

    # all GPUs of one node (DistributedDataParallel; --batch-size is per GPU)
    torchrun --standalone --nproc_per_node=8 -m triple_dots train --data data/ffhq --out runs/m2 ...

    # continue any of them after a crash or pre-emption: same command plus --resume
    # from Python:  from triple_dots.training import TrainConfig, train; train(TrainConfig(data=..., out=...))

Official quirks (lyndonzheng/TFill, ``shared/design/tfill-facts.md`` section 6)
----------------------------------------------------------------------------
Kept: two sequential stages (coarse E+T+G with D at ``fixed_size``; refine G_Ref with D_Ref at
``fine_size`` on frozen E/T/G); losses on the generator's *raw* output, not the composite; hole
L1 weighted 3x; lambda_rec = lambda_lp = 10, lambda_g = 1; non-saturating logistic GAN without
gradient penalty; Adam betas (0.5, 0.9), LR 1e-4 (G) / 4e-4 (D), constant; one D step then one G
step per batch from a single generator forward; bicubic (align_corners=True) resampling and the
``> 0.9`` threshold of the resized mask; noise injection active while training.

Fixed: the coarse visible-region L1 term compares the output with the ground truth (until PR #24
the official code compared the output with itself, so it was always 0); LPIPS dropout is off (the
official perceptual loss leaves ``Dropout(0.5)`` active because the module is never put in eval
mode, which makes the loss random); "iterations" count optimiser steps, not images (the log has
both); targets are resized with the same bicubic resampling as the inputs (official: PIL bicubic
for the coarse target); random 512 crops of 542-px resizes are replaced by the dataset's square
fit to ``fine_size`` (optionally ``augment``ed), since face crops are already aligned.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from triple_dots import weights as weights_registry
from triple_dots.cpu_memory import keep_freed_memory
from triple_dots.errors import BadInputError, OutputExistsError, TripleDotsError, where
from triple_dots.files import atomic_write_text
from triple_dots.training import checkpoint as ckpt
from triple_dots.training import distributed, rng
from triple_dots.training.batches import ResumableBatches
from triple_dots.training.config import ARCHITECTURE_KEYS, TrainConfig
from triple_dots.training.losses import (
    PerceptualLoss,
    discriminator_loss,
    generator_adversarial_loss,
    reconstruction_loss,
)
from triple_dots.training.runlog import RunLog
from triple_dots.training.stages import (
    CoarseGenerator,
    DiscriminatorStep,
    RefineGenerator,
    coarse_inputs,
    composite,
)

#: Networks saved in every checkpoint (official file names ``latest_net_<name>.pth``).
NETWORKS = ("E", "T", "G", "G_Ref", "D", "D_Ref")


class _Paused(Exception):
    """Internal: ``stop_after`` was reached (a checkpoint was written)."""


class TrainingDivergedError(TripleDotsError):
    """A loss became NaN or infinite; the run stopped and its last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What :func:`train` did: the run folder, the last step, checkpoints and the best one."""

    run_dir: Path
    iteration: int
    last_checkpoint: Path | None
    best: dict[str, Any] | None
    stopped_early: list[str] = field(default_factory=list)  # stages stopped by early stopping


def train(config: TrainConfig) -> TrainResult:
    """Run (or resume) the training described by ``config``; see the module docstring.

    Raises :class:`~triple_dots.errors.TripleDotsError` subclasses for bad data (before any
    training step), missing weights, an existing run folder without ``resume``, and
    :class:`TrainingDivergedError` when a loss becomes NaN/inf.
    """
    cfg = config.resolved()
    created_group = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    info = distributed.setup(cfg.device)
    try:
        return _Trainer(cfg, info).run()
    finally:
        if created_group:
            distributed.teardown()


# ==================================================================================================
class _Trainer:
    def __init__(self, cfg: TrainConfig, info: distributed.DistInfo) -> None:
        self.info, self.dev = info, info.device
        self.run_dir = Path(cfg.out)

        # ---- run folder: a new run, or resume from the newest complete checkpoint ------------
        self.resume_dir: Path | None = None
        if cfg.resume:
            self.resume_dir = ckpt.latest_checkpoint(self.run_dir, required=NETWORKS) if info.is_main else None
            self.resume_dir = distributed.broadcast_object(self.resume_dir, info)
        elif (self.run_dir / ckpt.CHECKPOINTS).exists() or (self.run_dir / "log.jsonl").exists():
            raise OutputExistsError(
                f"run folder {where(self.run_dir)} already holds a run; pass --resume to continue it "
                "or choose another --out"
            )
        self.state: dict[str, Any] = {}
        if self.resume_dir is not None:
            self.state = ckpt.load_state(self.resume_dir)
            saved = TrainConfig.from_dict(self.state["config"])
            # the architecture comes from the checkpoint; schedule/logging options may change
            cfg = TrainConfig(**(cfg.to_dict() | {k: getattr(saved, k) for k in ARCHITECTURE_KEYS}))
            if self.state.get("world_size", 1) != info.world_size:
                raise BadInputError(
                    f"checkpoint {where(self.resume_dir)} was written by {self.state.get('world_size')} processes; "
                    f"resume it with the same number (got {info.world_size}) for an exact continuation"
                )
        self.cfg = cfg
        self.log = RunLog(self.run_dir) if info.is_main else None
        if info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.run_dir / "config.json", cfg.to_json(), overwrite=True)
            if self.resume_dir is not None:
                self.log.truncate_after(int(self.state["iteration"]))  # type: ignore[union-attr]
                print(f"resuming from {self.resume_dir}")

        # ---- system: seeds, TF32, autocast ---------------------------------------------------
        rng.seed_everything(cfg.seed + info.rank)  # different noise per rank, same data order
        cuda = self.dev.type == "cuda"
        if cuda and cfg.tf32:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        if cuda:
            torch.backends.cudnn.benchmark = True
        self.amp = (cfg.amp and cuda) or (cfg.cpu_amp and not cuda)  # bf16 autocast needs no loss scaling
        if not cuda and cfg.keep_cpu_memory:
            keep_freed_memory()  # large CPU tensors reused, not page-faulted in every step

        # ---- data: every pair is checked before the model is even built ----------------------
        self.train_set, self.val_set = build_datasets(cfg)

        # ---- model, losses --------------------------------------------------------------------
        self.nets = build_networks(cfg, self.resume_dir)
        for net in self.nets.values():
            net.to(self.dev)
        self.perceptual = PerceptualLoss(cfg.vgg_weights).to(self.dev)
        self.tb = _tensorboard(self.run_dir) if cfg.tensorboard and info.is_main else None

    # ----------------------------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.dev.type, dtype=torch.bfloat16)

    def batches(self, consumed: int) -> Iterator[dict[str, Any]]:
        """Endless batches in the deterministic order, starting after ``consumed`` batches."""
        order = ResumableBatches(self.train_set, self.cfg.batch_size, seed=self.cfg.seed, rank=self.info.rank,
                                 world_size=self.info.world_size, consumed=consumed)
        epoch, first = divmod(consumed, order.per_epoch)
        base = self.train_set.dataset if isinstance(self.train_set, Subset) else self.train_set
        while True:
            base.set_epoch(epoch)  # the dataset's flips/augmentations depend on (seed, epoch, index)
            order.sampler.set_epoch(epoch)
            perm = list(iter(order.sampler))
            index_batches = [perm[b * order.batch_size : (b + 1) * order.batch_size]
                             for b in range(first, order.per_epoch)]
            loader = DataLoader(self.train_set, batch_sampler=index_batches, num_workers=self.cfg.num_workers,
                                pin_memory=self.dev.type == "cuda",
                                generator=torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch))
            yield from loader
            epoch, first = epoch + 1, 0

    # ----------------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg, info, st = self.cfg, self.info, self.state
        plan = cfg.stage_plan()
        iteration = int(st.get("iteration", 0))
        consumed = int(st.get("batches_consumed", 0))
        stage_index = int(st.get("stage_index", 0))
        stage_step = int(st.get("stage_step", 0))
        if st.get("stage_done", False):
            stage_index, stage_step = stage_index + 1, 0
        self.best: dict[str, dict[str, Any]] = dict(st.get("best", {}))  # per stage: iteration, value
        self.stopped_early: list[str] = list(st.get("stopped_early", []))
        self.last_ckpt: Path | None = self.resume_dir
        if self.resume_dir is not None and "rng" in st:
            rng.restore(st["rng"][info.rank])
        stream = self.batches(consumed)

        for si in range(stage_index, len(plan)):
            stage, n_steps = plan[si]
            resume_in_stage = si == stage_index and stage_step > 0
            if si > 0 and plan[si - 1][0] == "coarse" and plan[si - 1][0] in self.stopped_early and not resume_in_stage:
                self.load_best_coarse()
            try:
                iteration, consumed = self.run_stage(si, stage, n_steps, stage_step if resume_in_stage else 0,
                                                     iteration, consumed, stream)
            except _Paused as paused:
                if info.is_main:
                    print(f"stopped after iteration {paused.args[0]} (stop_after); continue with --resume")
                iteration = paused.args[0]
                break
            stage_step = 0

        if info.is_main and self.tb is not None:
            self.tb.close()
        distributed.barrier(info)
        return TrainResult(self.run_dir, iteration, self.last_ckpt, ckpt.read_best(self.run_dir),
                           list(self.stopped_early))

    # ----------------------------------------------------------------------------------------------
    def run_stage(self, si: int, stage: str, n_steps: int, start_step: int, iteration: int, consumed: int,
                  stream: Iterator[dict[str, Any]]) -> tuple[int, int]:
        cfg, info, nets = self.cfg, self.info, self.nets
        coarse = stage == "coarse"

        # ---- which networks learn: coarse E+T+G with D; refine G_Ref with D_Ref, E/T/G frozen ----
        gen_raw: nn.Module = CoarseGenerator(nets["E"], nets["T"], nets["G"]) if coarse else RefineGenerator(nets["G_Ref"])
        disc_raw = nets["D"] if coarse else nets["D_Ref"]
        frozen = CoarseGenerator(nets["E"], nets["T"], nets["G"])
        for name, net in nets.items():
            learn = name in (("E", "T", "G", "D") if coarse else ("G_Ref", "D_Ref"))
            net.requires_grad_(learn)
            net.train(learn or name in ("E", "T", "G"))  # frozen coarse nets keep their training-time noise
        fast = {"fused": True} if self.dev.type == "cuda" else {"foreach": True}  # same maths, fewer kernels
        opt_g = torch.optim.Adam(gen_raw.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2), **fast)
        opt_d = torch.optim.Adam(disc_raw.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2), **fast)
        adversarial = cfg.lambda_g > 0  # lambda_g = 0: reconstruction + perceptual only, D is not trained
        factor = _lr_factor(cfg, n_steps)
        sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, factor)
        sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, factor)
        if start_step > 0:  # resuming inside this stage
            st = self.state
            opt_g.load_state_dict(st["optim_g"])
            opt_d.load_state_dict(st["optim_d"])
            sched_g.load_state_dict(st["sched_g"])
            sched_d.load_state_dict(st["sched_d"])
        if start_step == 0:
            self.best.pop(stage, None)
        patience = dict(self.state.get("patience", {})) if start_step > 0 else {}

        gen, disc_step = gen_raw, DiscriminatorStep(disc_raw)
        if cfg.compile:
            gen, disc_step = torch.compile(gen), torch.compile(disc_step)
        if info.distributed:
            ids = [self.dev.index] if self.dev.type == "cuda" else None
            gen = nn.parallel.DistributedDataParallel(gen, device_ids=ids)
            disc_step = nn.parallel.DistributedDataParallel(disc_step, device_ids=ids)

        from triple_dots.tfill import to_model_space

        bar = None
        if info.is_main and cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_steps, initial=start_step, desc=f"train {stage}", unit="step", dynamic_ncols=True)
        t_last, steps_since = time.perf_counter(), 0
        global_batch = cfg.batch_size * info.world_size
        stopped = pause = False
        step = start_step
        while step < n_steps:
            step += 1
            iteration += 1
            batch = next(stream)
            consumed += 1
            image = batch["image"].to(self.dev, non_blocking=True)
            hole = batch["hole_mask"].to(self.dev, non_blocking=True)
            x, valid = to_model_space(image, hole)  # [-1, 1], 1 = visible

            # ---- forward: the generator once (official: forward, then D step, then G step) --------
            with self.autocast():
                ci = coarse_inputs(x, valid, cfg.fixed_size)
                if coarse:
                    fake = gen(ci.image, ci.valid, valid).float()  # (B,3,F,F) raw
                    real, valid_t = ci.target, ci.valid
                else:
                    with torch.no_grad():
                        comp = composite(x, valid, frozen(ci.image, ci.valid, valid).float())
                    fake = gen(comp, valid).float()  # (B,3,S,S) raw
                    real, valid_t = x, valid

                # ---- D step: logistic loss on real vs detached fake ---------------------------
                if adversarial:
                    disc_raw.requires_grad_(True)
                    real_logits, fake_logits = disc_step(real, fake.detach())
                    d_real, d_fake = discriminator_loss(real_logits.float(), fake_logits.float())
                    loss_d = d_real + d_fake
            if adversarial:
                self.guard(iteration, stage, {"loss_d": loss_d})
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()

            # ---- G step: reconstruction + LPIPS + non-saturating adversarial ------------------
            disc_raw.requires_grad_(False)
            with self.autocast():
                loss_rec = reconstruction_loss(fake, real, valid_t, hole_weight=cfg.hole_weight)
                loss_lp = self.perceptual(fake, real)
                loss_adv = generator_adversarial_loss(disc_raw(fake).float()) if adversarial else fake.new_zeros(())
                loss_g = cfg.lambda_rec * loss_rec + cfg.lambda_lp * loss_lp + cfg.lambda_g * loss_adv
            self.guard(iteration, stage, {"loss_g": loss_g, "loss_rec": loss_rec, "loss_lp": loss_lp})
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            sched_g.step()
            if adversarial:
                sched_d.step()
            steps_since += 1
            if bar is not None:
                bar.update(1)

            # ---- log ------------------------------------------------------------------------
            last = step == n_steps
            if step % cfg.log_every == 0 or step == 1 or last:
                if self.dev.type == "cuda":
                    torch.cuda.synchronize(self.dev)
                now = time.perf_counter()
                sec = (now - t_last) / max(steps_since, 1)
                t_last, steps_since = now, 0
                values = {"loss_g": loss_g.item(), "loss_rec": loss_rec.item(), "loss_lp": loss_lp.item(),
                          "loss_g_adv": loss_adv.item()}
                if adversarial:
                    values |= {"loss_d": loss_d.item(), "loss_d_real": d_real.item(), "loss_d_fake": d_fake.item()}
                values = distributed.mean_over_ranks(values, info)
                rec = {"iteration": iteration, "images_seen": consumed * global_batch, "stage": stage, **values,
                       "lr_g": opt_g.param_groups[0]["lr"], "lr_d": opt_d.param_groups[0]["lr"],
                       "sec_per_step": sec, "images_per_sec": global_batch / sec if sec > 0 else None}
                if self.dev.type == "cuda":
                    rec["max_mem_gib"] = torch.cuda.max_memory_allocated(self.dev) / 2**30
                self.write_log(rec)
                if bar is not None:
                    bar.set_postfix({k: f"{values[k]:.3f}" for k in ("loss_g", "loss_d") if k in values})

            # ---- validate on the held-out split; checkpoint; early stopping -------------------
            need_ckpt = cfg.ckpt_every > 0 and (step % cfg.ckpt_every == 0)
            if cfg.val_every > 0 and (step % cfg.val_every == 0 or last) and self.val_set is not None:
                metrics = self.validate(stage) if info.is_main else None
                metrics = distributed.broadcast_object(metrics, info)
                self.write_log({"iteration": iteration, "images_seen": consumed * global_batch, "stage": stage,
                                "split": "val", **metrics})
                value = float(metrics[cfg.best_metric])
                best = self.best.get(stage)
                if best is None or value < best["value"] - cfg.early_stopping_min_delta:
                    self.best[stage] = {"iteration": iteration, "value": value}
                    patience["bad"] = 0
                    need_ckpt = True
                else:
                    patience["bad"] = patience.get("bad", 0) + 1
                    if cfg.early_stopping_patience and patience["bad"] >= cfg.early_stopping_patience:
                        stopped = True
                        self.stopped_early.append(stage)
                        if info.is_main:
                            print(f"early stopping: {cfg.best_metric} did not improve for {patience['bad']} "
                                  f"validations; best at iteration {self.best[stage]['iteration']}")
            pause = cfg.stop_after is not None and iteration == cfg.stop_after
            if need_ckpt or last or stopped or pause:
                self.save(iteration, si, stage, step, consumed, opt_g, opt_d, sched_g, sched_d, patience,
                          stage_done=last or stopped)
            if stopped or pause:
                break
        if bar is not None:
            bar.close()
        if pause:
            raise _Paused(iteration)
        return iteration, consumed

    # ----------------------------------------------------------------------------------------------
    def guard(self, iteration: int, stage: str, losses: dict[str, torch.Tensor]) -> None:
        """Stop with a clear message when a loss is NaN/inf; nothing is saved, the last checkpoint stays."""
        bad = {k: v.item() for k, v in losses.items() if not torch.isfinite(v.detach()).all()}
        bad_any = distributed.any_rank(bool(bad), self.info)
        if not bad_any:
            return
        where_ckpt = str(self.last_ckpt) if self.last_ckpt is not None else "none (no checkpoint was written yet)"
        msg = (f"training diverged at iteration {iteration} ({stage} stage): "
               f"{', '.join(f'{k}={v}' for k, v in bad.items()) or 'a loss on another rank'} is not finite. "
               f"Last good checkpoint: {where_ckpt}. Lower the learning rate (--lr) or check the data, "
               "then continue with --resume.")  # fmt: skip
        self.write_log({"iteration": iteration, "stage": stage, "event": "diverged", **bad})
        raise TrainingDivergedError(msg)

    def write_log(self, record: dict[str, Any]) -> None:
        if self.log is None:
            return
        self.log.write(record)
        if self.tb is not None:
            prefix = "val/" if record.get("split") == "val" else "train/"
            for k, v in record.items():
                if isinstance(v, float) and k not in ("iteration", "images_seen"):
                    self.tb.add_scalar(prefix + k, v, record["iteration"])

    # ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, stage: str) -> dict[str, float]:
        """Held-out metrics of the current networks (main process; same noise at every validation).

        ``val_loss`` is the stage's generator objective without the adversarial term
        (lambda_rec * L1 + lambda_lp * LPIPS on the raw output, as in training); the others are
        measured on the final composite in [0, 1]: mean absolute error inside the hole
        (``val_l1_hole``), PSNR over the whole image (``val_psnr``), LPIPS-VGG (``val_lpips``).
        """
        from triple_dots.tfill import to_model_space

        cfg, nets = self.cfg, self.nets
        coarse_net = CoarseGenerator(nets["E"], nets["T"], nets["G"])
        modes = {k: n.training for k, n in nets.items()}
        for n in nets.values():
            n.eval()
        loader = DataLoader(self.val_set, batch_size=cfg.batch_size, shuffle=False, num_workers=0)
        sums: dict[str, float] = {}
        count = 0
        devices = [self.dev] if self.dev.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(cfg.seed)
            for batch in loader:
                image, hole = batch["image"].to(self.dev), batch["hole_mask"].to(self.dev)
                x, valid = to_model_space(image, hole)
                with self.autocast():
                    ci = coarse_inputs(x, valid, cfg.fixed_size)
                    out_c = coarse_net(ci.image, ci.valid, valid).float()
                    comp = composite(x, valid, out_c)
                    if stage == "coarse":
                        raw, target, v_t, final = out_c, ci.target, ci.valid, comp
                    else:
                        raw = nets["G_Ref"](comp, valid).float()
                        target, v_t = x, valid
                        final = valid * x + (1 - valid) * raw
                    loss = (cfg.lambda_rec * reconstruction_loss(raw, target, v_t, hole_weight=cfg.hole_weight)
                            + cfg.lambda_lp * self.perceptual(raw, target))
                    lp = self.perceptual(final, x)
                b = image.shape[0]
                out01, gt01 = (final.float().clamp(-1, 1) + 1) / 2, (x + 1) / 2
                hole_px = hole.sum(dim=(1, 2, 3)).clamp(min=1) * 3
                l1_hole = ((out01 - gt01).abs() * hole).sum(dim=(1, 2, 3)) / hole_px
                mse = ((out01 - gt01) ** 2).mean(dim=(1, 2, 3)).clamp(min=1e-10)
                psnr = 10 * torch.log10(1.0 / mse)
                for k, v in (("val_loss", loss.item() * b), ("val_lpips", lp.item() * b),
                             ("val_l1_hole", l1_hole.sum().item()), ("val_psnr", psnr.sum().item())):
                    sums[k] = sums.get(k, 0.0) + v
                count += b
        for k, n in nets.items():
            n.train(modes[k])
        return {k: v / max(count, 1) for k, v in sums.items()} | {"val_images": count}

    # ----------------------------------------------------------------------------------------------
    def save(self, iteration: int, si: int, stage: str, step: int, consumed: int, opt_g, opt_d, sched_g, sched_d,
             patience: dict[str, int], *, stage_done: bool) -> None:
        """Write a checkpoint (rank 0; every rank contributes its RNG state), best.json, prune old ones."""
        cfg, info = self.cfg, self.info
        rng_states = distributed.gather_objects(rng.capture(), info)
        if info.is_main:
            state = {
                "iteration": iteration, "stage": stage, "stage_index": si, "stage_step": step,
                "stage_done": stage_done, "batches_consumed": consumed, "world_size": info.world_size,
                "optim_g": opt_g.state_dict(), "optim_d": opt_d.state_dict(),
                "sched_g": sched_g.state_dict(), "sched_d": sched_d.state_dict(),
                "rng": rng_states, "best": self.best, "patience": patience,
                "stopped_early": list(self.stopped_early), "config": cfg.to_dict(),
            }  # fmt: skip
            path = ckpt.save_checkpoint(self.run_dir, iteration, self.nets, state)
            best = self.best.get(stage)
            if best is not None and best["iteration"] == iteration:
                ckpt.write_best(self.run_dir, iteration, cfg.best_metric, best["value"])
            keep = tuple(b["iteration"] for b in self.best.values())
            ckpt.prune_checkpoints(self.run_dir, cfg.keep_last, keep=keep)
            self.last_ckpt = path
        self.last_ckpt = distributed.broadcast_object(self.last_ckpt, info)

    def load_best_coarse(self) -> None:
        """After early stopping in the coarse stage, the refine stage starts from the best coarse nets."""
        best = self.best.get("coarse")
        if best is None:
            return
        path = self.run_dir / ckpt.CHECKPOINTS / ckpt.checkpoint_name(best["iteration"])
        for name in ("E", "T", "G", "D"):
            self.nets[name].load_state_dict(ckpt.load_network_state(path, name))


# ==================================================================================================
def _lr_factor(cfg: TrainConfig, n_steps: int):
    """LR multiplier per step: constant (official), or linear decay to 0 over the last part of the stage."""
    if cfg.lr_schedule == "constant":
        return lambda step: 1.0
    start = int(n_steps * (1.0 - cfg.lr_decay_fraction))
    span = max(1, n_steps - start)
    return lambda step: 1.0 if step < start else max(0.0, 1.0 - (step - start) / span)


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise BadInputError(f"--tensorboard needs the tensorboard package (pip install tensorboard): {exc}") from None
    return SummaryWriter(str(run_dir / "tensorboard"))


def build_datasets(cfg: TrainConfig) -> tuple[torch.utils.data.Dataset, torch.utils.data.Dataset | None]:
    """Training and held-out datasets at ``fine_size``; every pair is checked first (bad files raise).

    Held-out images: ``cfg.val_data`` if given, else the pairs whose manifest split is ``"val"``,
    else a seeded ``val_fraction`` of the pairs (at least one when ``val_every`` > 0). Pairs in
    a ``"test"`` split are never used for training.
    """
    from triple_dots.data import PairedFaceDataset

    common = dict(size=cfg.fine_size, synthetic_masks=cfg.synthetic_masks, seed=cfg.seed)
    train_full = PairedFaceDataset(cfg.data, flip=cfg.flip, **common)
    if cfg.val_data:
        val_full = PairedFaceDataset(cfg.val_data, **common)
        train_idx = [i for i, p in enumerate(train_full.pairs) if p.split not in ("val", "test")]
        val_idx = list(range(len(val_full)))
    else:
        val_full = PairedFaceDataset(cfg.data, validate=False, **common)
        splits = [p.split for p in train_full.pairs]
        train_idx = [i for i, s in enumerate(splits) if s not in ("val", "test")]
        val_idx = [i for i, s in enumerate(splits) if s == "val"]
        if not val_idx and cfg.val_every and cfg.val_fraction > 0:
            g = torch.Generator().manual_seed(cfg.seed)
            perm = torch.randperm(len(train_idx), generator=g).tolist()
            n_val = max(1, round(len(train_idx) * cfg.val_fraction))
            if len(train_idx) - n_val < 1:
                raise BadInputError(f"{where(cfg.data)} has {len(train_idx)} image(s): too few to hold out a "
                                    "validation split; add images or pass --val-every 0")
            held = sorted(perm[:n_val])
            val_idx = [train_idx[i] for i in held]
            train_idx = [train_idx[i] for i in sorted(perm[n_val:])]
    if not train_idx:
        raise BadInputError(f"{where(cfg.data)} has no training images (all pairs are in 'val'/'test' splits)")
    val_set = Subset(val_full, val_idx[: cfg.val_max_images]) if val_idx else None
    return Subset(train_full, train_idx), val_set


def resolve_weights(spec: str) -> Path:
    """A checkpoint folder from a path or a weights-registry key (``tfill-ffhq``); missing -> MissingWeightsError."""
    if spec in weights_registry.REGISTRY:
        return weights_registry.locate(spec)
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise BadInputError(f"--weights {where(path)} is neither a checkpoint folder nor a weights registry key")
    return path


def build_networks(cfg: TrainConfig, resume_dir: Path | None) -> dict[str, nn.Module]:
    """The six networks ``{"E","T","G","G_Ref","D","D_Ref"}``: random, pretrained, or from a checkpoint.

    Weights stay in the default contiguous layout (``channels_last=False``): a resumed run must use
    exactly the kernels of the uninterrupted one for a bitwise-identical continuation.
    """
    from triple_dots.tfill import TFill, make_config

    options = cfg.model_options()
    if resume_dir is not None:
        model = TFill.from_official(resume_dir, discriminators=True, channels_last=False, **options)
    elif cfg.mode == "scratch" and cfg.weights is None:
        model = TFill(make_config(**options), discriminators=True)
    else:
        src = resolve_weights(cfg.weights)  # type: ignore[arg-type]
        has_d = all((src / f"latest_net_{n}.pth").is_file() for n in ("D", "D_Ref"))
        model = TFill.from_official(src, discriminators=has_d, channels_last=False, **options)
        if not has_d:
            print(f"note: {src} has no latest_net_D.pth / latest_net_D_Ref.pth; the discriminators start from "
                  "random weights (the generators are pretrained)")
            fresh = TFill(make_config(**options), discriminators=True)
            model.net_D, model.net_D_Ref = fresh.net_D, fresh.net_D_Ref
    return {name: getattr(model, f"net_{name}") for name in NETWORKS}


def plot_losses(run_dir: str | Path, *, keys: tuple[str, ...] = ("loss_g", "loss_rec", "loss_lp", "loss_d"),
                smooth: int = 1):
    """A matplotlib figure of the training losses and held-out ``val_*`` metric of a run (log.jsonl)."""
    import matplotlib.pyplot as plt

    from triple_dots.training.runlog import read_log

    lines = read_log(run_dir)
    train_lines = [r for r in lines if r.get("split") != "val" and "loss_g" in r]
    val_lines = [r for r in lines if r.get("split") == "val"]
    best = ckpt.read_best(run_dir)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for k in keys:
        xs = [r["iteration"] for r in train_lines if isinstance(r.get(k), float)]
        ys = [r[k] for r in train_lines if isinstance(r.get(k), float)]
        if smooth > 1 and len(ys) >= smooth:
            ys = [sum(ys[max(0, i - smooth + 1) : i + 1]) / len(ys[max(0, i - smooth + 1) : i + 1])
                  for i in range(len(ys))]
        axes[0].plot(xs, ys, label=k)
    axes[0].set_xlabel("iteration (optimiser steps)")
    axes[0].set_yscale("log")
    axes[0].set_title("training losses")
    axes[0].legend(fontsize=8)
    metric = best["metric"] if best else "val_loss"
    axes[1].plot([r["iteration"] for r in val_lines], [r.get(metric, math.nan) for r in val_lines], "o-",
                 label=f"held-out {metric}")
    if best:
        axes[1].axvline(best["iteration"], color="k", ls="--", lw=1, label=f"best: iteration {best['iteration']}")
    axes[1].set_xlabel("iteration (optimiser steps)")
    axes[1].set_title("validation")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig
