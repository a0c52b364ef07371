"""How much glucose a day the kidney loses, by time in range, with the kidney of T1D
(`mechanisms.renal_splay`, 0.14.0) and with 0.13.0's sharp threshold: docs/model.md §1.

    python scripts/glycosuria_by_time_in_range.py            # real_world, 300 x 60 days
    python scripts/glycosuria_by_time_in_range.py --dcct     # the DCCT arms' first two weeks
"""

import argparse

import engine

BANDS = ((0, 40), (40, 60), (60, 80), (80, 101))


def by_time_in_range(n, days, seed):
    for splay in (False, True):
        ds = engine.run(
            {
                "run": {"n_patients": n, "days": days, "seed": seed},
                "execution": {"workers": 1},
                "mechanisms": {"renal_splay": splay},
            },
            quiet=True,
        )
        last = ds.isel(day=slice(days // 2, days)).mean("day")
        urine, tir = last["glycosuria_g"].values, last["tir"].values
        print(f"renal_splay {splay}: glycosuria {urine.mean():.1f} g/day (mean of patients)")
        for lo, hi in BANDS:
            m = (tir >= lo) & (tir < hi)
            if m.any():
                print(
                    f"  time in range {lo}-{min(hi, 100)}%: {m.sum()} patients, "
                    f"{urine[m].mean():.1f} g/day"
                )


def dcct_arms(n, days, seed):
    for kind in ("conventional", "intensive"):
        ds = engine.run(
            {
                "run": {"n_patients": n, "days": days, "seed": seed},
                "execution": {"workers": 1},
                "therapy": {"kind": kind},
                "cohort": {"groups": {"adult": 3.0, "adolescent": 1.0}},
            },
            quiet=True,
        )
        urine = ds["glycosuria_g"]
        print(
            f"{kind}: glycosuria {urine.isel(day=slice(0, 14)).mean().item():.1f} g/day in the "
            f"first two weeks, HbA1c {ds['hba1c'].isel(day=-1).mean().item():.2f}% on day {days}"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--dcct", action="store_true", help="the DCCT arms' first two weeks")
    args = ap.parse_args()
    if args.dcct:
        n = 200 if args.n == 300 else args.n
        dcct_arms(n, args.days, 7 if args.seed is None else args.seed)
    else:
        by_time_in_range(args.n, args.days, 5 if args.seed is None else args.seed)


if __name__ == "__main__":
    main()
