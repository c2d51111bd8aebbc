"""``python -m training <job> ...``: each job's CLI is a module with ``add_arguments`` and ``main``."""

import argparse
import importlib

JOBS = {
    "fronts": "training.fronts.cli",  # CALFIN-style calving-front model
    "water": "training.water.cli",    # surface-water U-Net
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="job", required=True)
    for job, module_name in JOBS.items():
        # No try/except: a job whose imports fail must say so, not vanish from the list of jobs.
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(job, help=module.__doc__.splitlines()[0]))
        sub.choices[job].set_defaults(run=module.main)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
