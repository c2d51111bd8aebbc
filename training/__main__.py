"""``python -m training <job> ...``: each job is a module with ``add_arguments`` and ``main``."""

import argparse
import importlib

JOBS = {
    "fronts": "training.fronts",  # CALFIN-style calving-front model
    "water": "training.water",    # surface-water U-Net
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="job", required=True)
    for job, module_name in JOBS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.add_arguments(sub.add_parser(job, help=module.__doc__.splitlines()[0]))
        sub.choices[job].set_defaults(run=module.main)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
