"""Runs every test_* function in tests/integration/test_*.py, in file order, and prints
one line per test and a closing 'N passed, N failed' line (', N skipped' after it when a test
raised harness.Skip: its SKIP line gives the reason). Exit 1 when any test failed.
Usage: run.py [substring-filter]"""

import importlib.util
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402 - after the path is set


def main():
    pattern = sys.argv[1] if len(sys.argv) > 1 else ""
    passed = failed = skipped = 0
    failures = []
    for name in sorted(os.listdir(HERE)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(HERE, name))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        tests = [(n, f) for n, f in vars(module).items() if n.startswith("test_") and callable(f)]
        tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
        for test_name, fn in tests:
            full = f"{name[:-3]}::{test_name}"
            if pattern and pattern not in full:
                continue
            start = time.time()
            error = skip = None
            try:
                fn()
            except harness.Skip as e:
                skip = str(e)
            except Exception:  # noqa: BLE001 - every failure is reported
                error = traceback.format_exc()
            # Pass or fail, nothing a test started outlives it; a test that left a process
            # running has a cleanup defect and fails.
            left = harness.reap_children()
            if left and error is None:
                error = "the test left processes running (killed now): " + ", ".join(left)
            if error is None and skip is not None:
                skipped += 1
                print(f"SKIP {full}: {skip}", flush=True)
            elif error is None:
                passed += 1
                print(f"PASS {full} ({time.time() - start:.1f}s)", flush=True)
            else:
                failed += 1
                failures.append((full, error))
                print(f"FAIL {full} ({time.time() - start:.1f}s)", flush=True)
    for full, tb in failures:
        print(f"\n=== {full}\n{tb}", flush=True)
    print(f"integration: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
