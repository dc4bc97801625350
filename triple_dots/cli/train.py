"""``triple-dots train``: train TFill from scratch, from a pretrained checkpoint, or personalise it.

Examples::

    triple-dots train --data data/ffhq --out runs/m2 --stage both --mode scratch --iterations 100000
    triple-dots train --data data/me --out runs/me --mode personalise --weights tfill-ffhq
    triple-dots train --data data/me --out runs/me --mode personalise --weights tfill-ffhq --resume
    torchrun --standalone --nproc_per_node=4 -m triple_dots train --data ... --out ...
"""

from __future__ import annotations

import argparse

HELP = "train TFill (coarse/refine/both; scratch, pretrained or personalise) into a run folder"
DESCRIPTION = (
    "Train TFill with the official recipe. The run folder gets config.json, log.jsonl (losses per step, "
    "held-out metrics), checkpoints/iter_N/ (official latest_net_*.pth files + state.pt) and best.json. "
    "--iterations counts optimiser steps per stage (images = steps x batch size x processes). "
    "Under torchrun every process trains on its shard (--batch-size is per process)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from triple_dots.training.config import MODES, STAGES

    g = parser.add_argument_group("what to train")
    g.add_argument("--data", required=True, help="dataset folder (images/ + masks/) or its manifest.csv")
    g.add_argument("--out", required=True, help="run folder (created; refuses an existing run unless --resume)")
    g.add_argument("--stage", choices=STAGES, default="both", help="coarse, refine (needs coarse --weights) or both")
    g.add_argument("--mode", choices=MODES, default="scratch",
                   help="scratch | pretrained | personalise (lower LR, frequent validation, early stopping)")
    g.add_argument("--weights", default=None,
                   help="TFill checkpoint folder with latest_net_*.pth, or a registry key such as tfill-ffhq")
    g.add_argument("--val-data", default=None, help="held-out folder (default: the data's 'val' split or a fraction)")
    g.add_argument("--synthetic-masks", action="store_true", help="draw fresh synthetic face masks on the fly")
    g.add_argument("--resume", action="store_true", help="continue from the newest complete checkpoint in --out")

    s = parser.add_argument_group("schedule")
    s.add_argument("--iterations", type=int, default=10_000, help="optimiser steps per stage (default 10000)")
    s.add_argument("--refine-iterations", type=int, default=None, help="steps of the refine stage with --stage both")
    s.add_argument("--batch-size", type=int, default=4, help="images per step per process (default 4)")
    s.add_argument("--lr", type=float, default=None,
                   help="generator LR (default 1e-4; personalise 2e-5); the discriminator gets 4x unless --lr-d")
    s.add_argument("--lr-d", type=float, default=None, help="discriminator LR (default 4 x generator LR)")
    s.add_argument("--lr-schedule", choices=("constant", "linear"), default="constant")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--val-every", type=int, default=None, help="validate every N steps (default 500; personalise 50)")
    s.add_argument("--ckpt-every", type=int, default=None, help="checkpoint every N steps (default 1000; personalise 50)")
    s.add_argument("--log-every", type=int, default=10)
    s.add_argument("--keep-last", type=int, default=3, help="checkpoints kept besides the best (default 3)")
    s.add_argument("--patience", type=int, default=None,
                   help="early stopping: validations without improvement (default off; personalise 5)")
    s.add_argument("--vgg-weights", default=None, help="torchvision vgg16-397923af.pth (default: weights registry)")
    s.add_argument("--tensorboard", action="store_true", help="also write TensorBoard scalars")
    s.add_argument("--no-flip", action="store_true", help="no random horizontal flips")

    y = parser.add_argument_group("system")
    y.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    y.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast on CUDA")
    y.add_argument("--cpu-amp", action="store_true",
                   help="bf16 autocast on CPU too (fast on CPUs with AMX / AVX512-BF16, slow on others)")
    y.add_argument("--keep-cpu-memory", action=argparse.BooleanOptionalAction, default=True,
                   help="on CPU, glibc keeps freed memory for reuse: faster steps, peak memory kept (default on)")
    y.add_argument("--compile", action="store_true", help="torch.compile the networks")
    y.add_argument("--workers", type=int, default=0, help="DataLoader workers per process")

    m = parser.add_argument_group("model size (released width by default; small values for smoke runs)")
    m.add_argument("--ngf", type=int, default=32)
    m.add_argument("--ndf", type=int, default=32)
    m.add_argument("--embed-dim", type=int, default=512)
    m.add_argument("--n-encoders", type=int, default=12)
    m.add_argument("--fixed-size", type=int, default=256, help="coarse stage / D resolution")
    m.add_argument("--fine-size", type=int, default=512, help="training crop / refine stage / D_Ref resolution")


def config_from_args(args: argparse.Namespace):
    """The :class:`~triple_dots.training.TrainConfig` described by parsed CLI arguments."""
    from triple_dots.training import TrainConfig

    lr_d = args.lr_d if args.lr_d is not None else (4 * args.lr if args.lr is not None else None)
    return TrainConfig(
        data=args.data, out=args.out, val_data=args.val_data, stage=args.stage, mode=args.mode, weights=args.weights,
        iterations=args.iterations, refine_iterations=args.refine_iterations, batch_size=args.batch_size,
        lr_g=args.lr, lr_d=lr_d, lr_schedule=args.lr_schedule, seed=args.seed, val_every=args.val_every,
        ckpt_every=args.ckpt_every, log_every=args.log_every, keep_last=args.keep_last,
        early_stopping_patience=args.patience, vgg_weights=args.vgg_weights, tensorboard=args.tensorboard,
        flip=not args.no_flip, synthetic_masks=args.synthetic_masks, resume=args.resume, device=args.device,
        amp=args.amp, cpu_amp=args.cpu_amp, keep_cpu_memory=args.keep_cpu_memory, compile=args.compile,
        num_workers=args.workers, ngf=args.ngf, ndf=args.ndf,
        embed_dim=args.embed_dim, n_encoders=args.n_encoders, fixed_size=args.fixed_size, fine_size=args.fine_size,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from triple_dots.training import train

    result = train(config_from_args(args))
    best = result.best
    msg = f"trained to iteration {result.iteration}; run folder {result.run_dir}"
    if best:
        msg += f"; best checkpoint {best['checkpoint']} ({best['metric']}={best['value']:.4g})"
    if result.stopped_early:
        msg += f"; early stopping in: {', '.join(result.stopped_early)}"
    print(msg)
    return 0
