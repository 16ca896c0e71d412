"""Print the config's walk through a script (tests/walk.py): the modules and packages that receive its config.

    python -m tests.config_walk evaluate.py RUN_DIR=runs/<run> [more overrides]
"""
import sys

from tests.walk import packages, trace_script


def main() -> None:
    walk = trace_script(sys.argv[1], sys.argv[2:])
    if walk.run.returncode != 0:
        sys.exit(f"{walk.run.stderr.rstrip()}\n{sys.argv[1]} exited with status {walk.run.returncode}")
    by_package = packages(walk)
    print(f"{len(walk.stops)} stops in {len(set(walk.rooms))} modules, {len(walk.returns)} returns; "
          f"{len(set(by_package.rooms))} packages, {len(by_package.returns)} returns")
    print("modules: " + " -> ".join(walk.rooms))
    print("module returns: " + (", ".join(walk.returns) or "none"))
    print("packages: " + " -> ".join(by_package.rooms))
    print("package returns: " + (", ".join(by_package.returns) or "none"))


if __name__ == "__main__":
    main()
