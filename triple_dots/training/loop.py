"""Train TFill: both stages, from scratch, from a pretrained checkpoint, or personalised (``triple-dots train``).

Kept from the official TFill: coarse stage (E+T+G, D at ``fixed_size``) then refine stage (G_Ref,
D_Ref at ``fine_size``, E/T/G frozen); losses on the *raw* output; one D step then one G step per
batch from one generator forward; bicubic (align_corners=True) resampling, ``> 0.9`` threshold of
the resized mask; noise injection active while training. Fixed: the coarse visible L1 term compares
with the ground truth (official PR #24), LPIPS dropout is off, iterations count optimiser steps, and
targets are resized like the inputs; the dataset's square fit replaces random crops.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from triple_dots.cpu_memory import keep_freed_memory
from triple_dots.errors import BadInputError, OutputExistsError, TripleDotsError, where
from triple_dots.files import check_apart, disk_full_error, is_disk_full, output_lock
from triple_dots.tfill import to_model_space
from triple_dots.tfill.checkpoint_files import DISCRIMINATOR_NETS, GENERATOR_NETS
from triple_dots.training import distributed, rng
from triple_dots.training import run_folder as rf
from triple_dots.training.batches import ResumableBatches
from triple_dots.training.build import build_datasets, build_model
from triple_dots.training.config import ARCHITECTURE_KEYS, TrainConfig
from triple_dots.training.losses import (
    PerceptualLoss,
    discriminator_loss,
    generator_adversarial_loss,
    reconstruction_loss,
)
from triple_dots.training.stages import DiscriminatorStep, StageGenerator, coarse_target

#: Networks saved in every checkpoint (official file names ``latest_net_<name>.pth``).
NETWORKS = GENERATOR_NETS + DISCRIMINATOR_NETS


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
    """Run (or resume) the training described by ``config``.

    Raises :class:`~triple_dots.errors.TripleDotsError` subclasses (bad data before any step, missing
    weights, an existing run without ``resume``) and :class:`TrainingDivergedError` for a NaN/inf loss.
    """
    cfg = config.resolved()
    check_apart(cfg.out, [_data_folder(cfg.data), _data_folder(cfg.val_data)], what="run folder (--out)")
    created_group = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    info = distributed.setup(cfg.device)
    try:
        with output_lock(cfg.out, command="train") if info.is_main else contextlib.nullcontext():
            try:
                return _Trainer(cfg, info).run()
            except (OSError, RuntimeError) as exc:
                if is_disk_full(exc):
                    raise disk_full_error(cfg.out, exc) from None
                raise
    finally:
        if created_group:
            distributed.teardown()


def _data_folder(data: str | None) -> Path | None:
    """The folder a ``--data`` value stands for (a manifest stands for its folder)."""
    if not data:
        return None
    p = Path(data)
    return p.parent if p.is_file() else p


class _Trainer:
    def __init__(self, cfg: TrainConfig, info: distributed.DistInfo) -> None:
        self.info, self.dev = info, info.device
        self.run_dir = Path(cfg.out)

        self.resume_dir: Path | None = None
        if cfg.resume:
            found: tuple[Path | None, str] = (None, "")
            if info.is_main:
                passed_over: list[str] = []
                ckpt = rf.latest_checkpoint(self.run_dir, required=NETWORKS, problems=passed_over,
                                            need_config=True)
                if ckpt is None and passed_over:
                    # never start again from step 0 over a run's trained weights: refuse instead
                    found = (None, (
                        f"--resume: no usable checkpoint in {where(self.run_dir / rf.CHECKPOINTS)} ("
                        + "; ".join(passed_over[:6]) + (" ..." if len(passed_over) > 6 else "")
                        + "); nothing was changed. Repair or move the damaged checkpoints away, or train into "
                        "another --out"))
                else:
                    found = (ckpt, "")
                    if passed_over:
                        print("note: passed over damaged checkpoint(s): " + "; ".join(passed_over))
            self.resume_dir, refusal = distributed.broadcast_object(found, info)
            if refusal:
                raise BadInputError(refusal)
        elif (self.run_dir / rf.CHECKPOINTS).exists() or (self.run_dir / rf.LOG_FILE).exists():
            raise OutputExistsError(
                f"run folder {where(self.run_dir)} already holds a run; pass --resume to continue it "
                "or choose another --out"
            )
        self.state: dict[str, Any] = {}
        if self.resume_dir is not None:
            self.state = rf.load_state(self.resume_dir)
            try:
                saved = TrainConfig.from_dict(self.state["config"])
            except (TypeError, ValueError, KeyError, BadInputError) as exc:
                raise BadInputError(
                    f"--resume: {where(self.resume_dir / rf.STATE_FILE)} holds a training config this version "
                    f"cannot read ({exc}); nothing was changed"
                ) from None
            # the architecture comes from the checkpoint; schedule/logging options may change
            cfg = TrainConfig(**(cfg.to_dict() | {k: getattr(saved, k) for k in ARCHITECTURE_KEYS}))
            if self.state.get("world_size", 1) != info.world_size:
                raise BadInputError(
                    f"checkpoint {where(self.resume_dir)} was written by {self.state.get('world_size')} processes; "
                    f"resume it with the same number (got {info.world_size}) for an exact continuation"
                )
        self.cfg = cfg
        self.run_log = rf.RunLog(self.run_dir) if info.is_main else None

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

        # every pair is checked before the model is even built
        self.train_set, self.val_set = build_datasets(cfg)

        self.model = build_model(cfg, self.resume_dir).to(self.dev)
        # the run folder changes only now that data, options and weights are known to be good
        if info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            rf.write_config(self.run_dir, cfg.to_json())
            if self.resume_dir is not None:
                self.run_log.truncate_after(int(self.state["iteration"]))  # type: ignore[union-attr]
                print(f"resuming from {self.resume_dir}")
        self.nets = dict(self.model.networks())
        self.perceptual = PerceptualLoss(cfg.vgg_weights).to(self.dev)
        self.tb = None
        if cfg.tensorboard and info.is_main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise BadInputError(
                    f"--tensorboard needs the tensorboard package (pip install tensorboard): {exc}") from None
            self.tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    def autocast(self) -> contextlib.AbstractContextManager:
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.dev.type, dtype=torch.bfloat16)

    def batches(self, consumed: int) -> Iterator[dict[str, Any]]:
        """Endless batches in the deterministic order, starting after ``consumed`` batches."""
        order = ResumableBatches(self.train_set, self.cfg.batch_size, seed=self.cfg.seed, rank=self.info.rank,
                                 world_size=self.info.world_size, consumed=consumed)
        base = self.train_set.dataset if isinstance(self.train_set, Subset) else self.train_set
        for epoch, index_batches in order.epochs():
            base.set_epoch(epoch)  # the dataset's flips/augmentations depend on (seed, epoch, index)
            yield from DataLoader(self.train_set, batch_sampler=index_batches, num_workers=self.cfg.num_workers,
                                  pin_memory=self.dev.type == "cuda",
                                  generator=torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch))

    def run(self) -> TrainResult:
        cfg, info, st = self.cfg, self.info, self.state
        plan = cfg.stage_plan()
        iteration, consumed, stage_index, stage_step = (
            int(st.get(k, 0)) for k in ("iteration", "batches_consumed", "stage_index", "stage_step"))
        if st.get("stage_done", False):
            name = plan[stage_index][0] if stage_index < len(plan) else None
            more = stage_index < len(plan) and stage_step < plan[stage_index][1] and name not in st.get(
                "stopped_early", [])
            if not more:  # else: a finished stage given more --iterations on resume trains on from where it was
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
            iteration, consumed, paused = self.run_stage(si, stage, n_steps, stage_step if resume_in_stage else 0,
                                                         iteration, consumed, stream)
            if paused:
                if info.is_main:
                    print(f"stopped after iteration {iteration} (stop_after); continue with --resume")
                break
            stage_step = 0

        if info.is_main and self.tb is not None:
            self.tb.close()
        distributed.barrier(info)
        return TrainResult(self.run_dir, iteration, self.last_ckpt, rf.read_best(self.run_dir),
                           list(self.stopped_early))

    def run_stage(self, si: int, stage: str, n_steps: int, start_step: int, iteration: int, consumed: int,
                  stream: Iterator[dict[str, Any]]) -> tuple[int, int, bool]:
        """Train one stage from ``start_step`` to ``n_steps``; returns the global (iteration, batches consumed)
        and whether ``stop_after`` paused the run here (a checkpoint was written)."""
        st = self.start_stage(si, stage, n_steps, start_step)
        while st.step < n_steps:
            st.step, iteration, consumed = st.step + 1, iteration + 1, consumed + 1
            fake, real, valid_t = self.generate(st, next(stream))
            d_losses = self.d_step(st, iteration, fake, real)
            losses = self.g_step(st, iteration, fake, real, valid_t) | d_losses
            self.log(st, iteration, consumed, losses)
            if self.validate_and_checkpoint(st, iteration, consumed):
                break
        if st.bar is not None:
            st.bar.close()
        return iteration, consumed, st.pause

    def start_stage(self, si: int, stage: str, n_steps: int, start_step: int) -> _Stage:
        """Which networks learn (coarse E+T+G with D; refine G_Ref with D_Ref, E/T/G frozen), their
        optimisers and LR schedules (restored when resuming inside the stage), DDP / compile wrappers."""
        cfg, info, nets = self.cfg, self.info, self.nets
        coarse = stage == "coarse"
        gen_raw = StageGenerator(self.model, stage)
        disc_raw = nets["D"] if coarse else nets["D_Ref"]
        for name, net in nets.items():
            learn = name in (("E", "T", "G", "D") if coarse else ("G_Ref", "D_Ref"))
            net.requires_grad_(learn)
            net.train(learn or name in ("E", "T", "G"))  # frozen coarse nets keep their training-time noise
        fast = {"fused": True} if self.dev.type == "cuda" else {"foreach": True}  # same maths, fewer kernels
        opt_g, opt_d = (torch.optim.Adam(net.parameters(), lr=lr, betas=(cfg.beta1, cfg.beta2), **fast)
                        for net, lr in ((gen_raw, cfg.lr_g), (disc_raw, cfg.lr_d)))
        sched_g, sched_d = (torch.optim.lr_scheduler.LambdaLR(o, _lr_factor(cfg, n_steps)) for o in (opt_g, opt_d))
        if start_step > 0:  # resuming inside this stage
            for obj, key in ((opt_g, "optim_g"), (opt_d, "optim_d"), (sched_g, "sched_g"), (sched_d, "sched_d")):
                obj.load_state_dict(self.state[key])
        else:
            self.best.pop(stage, None)
        gen, disc_step = gen_raw, DiscriminatorStep(disc_raw)
        if cfg.compile:
            gen, disc_step = torch.compile(gen), torch.compile(disc_step)
        if info.distributed:
            ids = [self.dev.index] if self.dev.type == "cuda" else None
            gen, disc_step = (nn.parallel.DistributedDataParallel(m, device_ids=ids) for m in (gen, disc_step))
        bar = None
        if info.is_main and cfg.progress:
            bar = tqdm(total=n_steps, initial=start_step, desc=f"train {stage}", unit="step", dynamic_ncols=True)
        return _Stage(si, stage, n_steps, start_step, gen, disc_step, disc_raw, opt_g, opt_d, sched_g, sched_d,
                      adversarial=cfg.lambda_g > 0,  # lambda_g = 0: reconstruction + perceptual only, no D
                      patience=dict(self.state.get("patience", {})) if start_step > 0 else {}, bar=bar)

    def generate(self, st: _Stage, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The generator forward, once per batch: (raw output, its target, the target's visible mask)."""
        image = batch["image"].to(self.dev, non_blocking=True)
        hole = batch["hole_mask"].to(self.dev, non_blocking=True)
        x, valid = to_model_space(image, hole)  # [-1, 1], 1 = visible
        with self.autocast():
            comp = None
            if not st.coarse:
                with torch.no_grad():
                    comp = self.model.coarse_stage(x, valid).coarse_composite  # frozen E, T, G
            fake, valid_t = st.gen(x, valid, comp)  # coarse (B,3,F,F) / refine (B,3,S,S) raw
            real = coarse_target(x, self.cfg.fixed_size) if st.coarse else x
        return fake.float(), real, valid_t

    def d_step(self, st: _Stage, iteration: int, fake: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One D step: logistic loss on real vs the detached fake (none when lambda_g = 0)."""
        if not st.adversarial:
            return {}
        st.disc_raw.requires_grad_(True)
        with self.autocast():
            real_logits, fake_logits = st.disc_step(real, fake.detach())
            d_real, d_fake = discriminator_loss(real_logits.float(), fake_logits.float())
            loss_d = d_real + d_fake
        self.guard(iteration, st.name, {"loss_d": loss_d})
        st.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        st.opt_d.step()
        return {"loss_d": loss_d, "loss_d_real": d_real, "loss_d_fake": d_fake}

    def g_step(self, st: _Stage, iteration: int, fake: torch.Tensor, real: torch.Tensor,
               valid_t: torch.Tensor) -> dict[str, torch.Tensor]:
        """One G step: reconstruction + LPIPS + non-saturating adversarial loss; then both LR schedules step."""
        cfg = self.cfg
        st.disc_raw.requires_grad_(False)
        with self.autocast():
            loss_rec = reconstruction_loss(fake, real, valid_t, hole_weight=cfg.hole_weight)
            loss_lp = self.perceptual(fake, real)
            loss_adv = generator_adversarial_loss(st.disc_raw(fake).float()) if st.adversarial else fake.new_zeros(())
            loss_g = cfg.lambda_rec * loss_rec + cfg.lambda_lp * loss_lp + cfg.lambda_g * loss_adv
        self.guard(iteration, st.name, {"loss_g": loss_g, "loss_rec": loss_rec, "loss_lp": loss_lp})
        st.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        st.opt_g.step()
        st.sched_g.step()
        if st.adversarial:
            st.sched_d.step()
        return {"loss_g": loss_g, "loss_rec": loss_rec, "loss_lp": loss_lp, "loss_g_adv": loss_adv}

    def log(self, st: _Stage, iteration: int, consumed: int, losses: dict[str, torch.Tensor]) -> None:
        """A log line every ``log_every`` steps (and the first and last): losses, LRs, speed."""
        st.steps_since += 1
        if st.bar is not None:
            st.bar.update(1)
        if not (st.step % self.cfg.log_every == 0 or st.step == 1 or st.last):
            return
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)
        now = time.perf_counter()
        sec = (now - st.t_last) / max(st.steps_since, 1)
        st.t_last, st.steps_since = now, 0
        values = distributed.mean_over_ranks({k: v.item() for k, v in losses.items()}, self.info)
        global_batch = self.cfg.batch_size * self.info.world_size
        rec = {**values, "lr_g": st.opt_g.param_groups[0]["lr"], "lr_d": st.opt_d.param_groups[0]["lr"],
               "sec_per_step": sec, "images_per_sec": global_batch / sec if sec > 0 else None}
        if self.dev.type == "cuda":
            rec["max_mem_gib"] = torch.cuda.max_memory_allocated(self.dev) / 2**30
        self.write_log(iteration, consumed, st.name, rec)
        if st.bar is not None:
            st.bar.set_postfix({k: f"{values[k]:.3f}" for k in ("loss_g", "loss_d") if k in values})

    def validate_and_checkpoint(self, st: _Stage, iteration: int, consumed: int) -> bool:
        """Validate on the held-out split, track the best step and early stopping, write a checkpoint
        when due; True when the stage ends here (early stopping or ``stop_after``)."""
        cfg, info = self.cfg, self.info
        need_ckpt = cfg.ckpt_every > 0 and (st.step % cfg.ckpt_every == 0)
        if cfg.val_every > 0 and (st.step % cfg.val_every == 0 or st.last) and self.val_set is not None:
            metrics = self.validate(st.name) if info.is_main else None
            metrics = distributed.broadcast_object(metrics, info)
            self.write_log(iteration, consumed, st.name, {"split": "val", **metrics})
            value = float(metrics[cfg.best_metric])
            best = self.best.get(st.name)
            if best is None or value < best["value"] - cfg.early_stopping_min_delta:
                self.best[st.name] = {"iteration": iteration, "value": value}
                st.patience["bad"] = 0
                need_ckpt = True
            else:
                st.patience["bad"] = st.patience.get("bad", 0) + 1
                if cfg.early_stopping_patience and st.patience["bad"] >= cfg.early_stopping_patience:
                    st.stopped = True
                    self.stopped_early.append(st.name)
                    if info.is_main:
                        print(f"early stopping: {cfg.best_metric} did not improve for {st.patience['bad']} "
                              f"validations; best at iteration {self.best[st.name]['iteration']}")
        st.pause = cfg.stop_after is not None and iteration == cfg.stop_after
        if need_ckpt or st.last or st.stopped or st.pause:
            self.save(st, iteration, consumed, stage_done=st.last or st.stopped)
        return st.stopped or st.pause

    def guard(self, iteration: int, stage: str, losses: dict[str, torch.Tensor]) -> None:
        """Stop with a clear message when a loss is NaN/inf; nothing is saved, the last checkpoint stays."""
        bad = {k: v.item() for k, v in losses.items() if not torch.isfinite(v.detach()).all()}
        if not distributed.any_rank(bool(bad), self.info):
            return
        where_ckpt = str(self.last_ckpt) if self.last_ckpt is not None else "none (no checkpoint was written yet)"
        msg = (f"training diverged at iteration {iteration} ({stage} stage): "
               f"{', '.join(f'{k}={v}' for k, v in bad.items()) or 'a loss on another rank'} is not finite. "
               f"Last good checkpoint: {where_ckpt}. Lower the learning rate (--lr) or check the data, "
               "then continue with --resume.")  # fmt: skip
        self.write_log(iteration, None, stage, {"event": "diverged", **bad})
        raise TrainingDivergedError(msg)

    def write_log(self, iteration: int, consumed: int | None, stage: str, values: dict[str, Any]) -> None:
        """One log.jsonl line (main process): iteration, images seen (when ``consumed`` is known), stage, values."""
        if self.run_log is None:
            return
        seen = {} if consumed is None else {"images_seen": consumed * self.cfg.batch_size * self.info.world_size}
        record = {"iteration": iteration, **seen, "stage": stage, **values}
        self.run_log.write(record)
        if self.tb is not None:
            prefix = "val/" if record.get("split") == "val" else "train/"
            for k, v in record.items():
                if isinstance(v, float) and k not in ("iteration", "images_seen"):
                    self.tb.add_scalar(prefix + k, v, record["iteration"])

    @torch.no_grad()
    def validate(self, stage: str) -> dict[str, float]:
        """Held-out metrics of the current networks (main process; same noise at every validation).

        ``val_loss``: the stage's generator objective without the adversarial term, on the raw output;
        ``val_l1_hole`` (mean in the hole), ``val_psnr``, ``val_lpips``: on the final composite in [0, 1].
        """
        from triple_dots.evaluation.paired import psnr  # evaluation sits above training: imported when used

        cfg, nets, model = self.cfg, self.nets, self.model
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
                    out = model.coarse_stage(x, valid)
                    if stage == "coarse":
                        raw, target, v_t = out.coarse_raw.float(), coarse_target(x, cfg.fixed_size), out.fixed_mask
                        final = out.coarse_composite
                    else:
                        out = model.refine_stage(out.coarse_composite, x, valid)
                        raw, target, v_t, final = out.refine_raw.float(), x, valid, out.final_composite
                    loss = (cfg.lambda_rec * reconstruction_loss(raw, target, v_t, hole_weight=cfg.hole_weight)
                            + cfg.lambda_lp * self.perceptual(raw, target))
                    lp = self.perceptual(final, x)
                b = image.shape[0]
                out01, gt01 = (final.float().clamp(-1, 1) + 1) / 2, (x + 1) / 2
                hole_px = hole.sum(dim=(1, 2, 3)).clamp(min=1) * 3
                l1_hole = ((out01 - gt01).abs() * hole).sum(dim=(1, 2, 3)) / hole_px
                for k, v in (("val_loss", loss.item() * b), ("val_lpips", lp.item() * b),
                             ("val_l1_hole", l1_hole.sum().item()),
                             ("val_psnr", sum(psnr(o, g) for o, g in zip(out01, gt01, strict=True)))):
                    sums[k] = sums.get(k, 0.0) + v
                count += b
        for k, n in nets.items():
            n.train(modes[k])
        return {k: v / max(count, 1) for k, v in sums.items()} | {"val_images": count}

    def save(self, st: _Stage, iteration: int, consumed: int, *, stage_done: bool) -> None:
        """Write a checkpoint (rank 0; every rank contributes its RNG state), best.json, prune old ones."""
        cfg, info = self.cfg, self.info
        rng_states = distributed.gather_objects(rng.capture(), info)
        if info.is_main:
            state = {
                "iteration": iteration, "stage": st.name, "stage_index": st.index, "stage_step": st.step,
                "stage_done": stage_done, "batches_consumed": consumed, "world_size": info.world_size,
                "optim_g": st.opt_g.state_dict(), "optim_d": st.opt_d.state_dict(),
                "sched_g": st.sched_g.state_dict(), "sched_d": st.sched_d.state_dict(),
                "rng": rng_states, "best": self.best, "patience": st.patience,
                "stopped_early": list(self.stopped_early), "config": cfg.to_dict(),
            }  # fmt: skip
            path = rf.save_checkpoint(self.run_dir, iteration, self.nets, state)
            best = self.best.get(st.name)
            if best is not None and best["iteration"] == iteration:
                rf.write_best(self.run_dir, iteration, cfg.best_metric, best["value"])
            rf.prune_checkpoints(self.run_dir, cfg.keep_last, keep=tuple(b["iteration"] for b in self.best.values()))
            self.last_ckpt = path
        self.last_ckpt = distributed.broadcast_object(self.last_ckpt, info)

    def load_best_coarse(self) -> None:
        """After early stopping in the coarse stage, the refine stage starts from the best coarse nets."""
        best = self.best.get("coarse")
        if best is None:
            return
        path = self.run_dir / rf.CHECKPOINTS / rf.checkpoint_name(best["iteration"])
        for name in ("E", "T", "G", "D"):
            self.nets[name].load_state_dict(rf.load_network_state(path, name))


@dataclass
class _Stage:
    """The state of the stage being trained: its step, wrapped networks, optimisers, schedules, progress."""

    index: int
    name: str
    n_steps: int
    step: int
    gen: nn.Module  # StageGenerator, possibly compiled / DDP-wrapped
    disc_step: nn.Module  # DiscriminatorStep, likewise
    disc_raw: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: Any
    sched_d: Any
    adversarial: bool
    patience: dict[str, int]
    bar: Any = None
    t_last: float = field(default_factory=time.perf_counter)
    steps_since: int = 0
    stopped: bool = False
    pause: bool = False

    @property
    def coarse(self) -> bool:
        return self.name == "coarse"

    @property
    def last(self) -> bool:
        return self.step == self.n_steps


def _lr_factor(cfg: TrainConfig, n_steps: int):
    """LR multiplier per step: constant (official), or linear decay to 0 over the last part of the stage."""
    if cfg.lr_schedule == "constant":
        return lambda step: 1.0
    start = int(n_steps * (1.0 - cfg.lr_decay_fraction))
    span = max(1, n_steps - start)
    return lambda step: 1.0 if step < start else max(0.0, 1.0 - (step - start) / span)
