"""Write configmap.yaml from services/config/distributed.yaml, which it must equal.

    python deploy/kubernetes/write-configmap.py

Run it whenever distributed.yaml changes (tests/integration/test_deploy.py fails until
then). Standard library only."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "services" / "config" / "distributed.yaml"
HEADER = """\
# services/config/distributed.yaml, as the services read it (mounted at /etc/chibo).
# Written by write-configmap.py; tests/integration/test_deploy.py compares the two.
apiVersion: v1
kind: ConfigMap
metadata:
  name: chibo-config
  namespace: chibo
  labels:
    app.kubernetes.io/name: chibo
data:
  distributed.yaml: |
"""


def main() -> None:
    config = SOURCE.read_text(encoding="utf-8")
    body = "".join(f"    {line}" if line.strip() else "\n"
                   for line in config.splitlines(keepends=True))
    (HERE / "configmap.yaml").write_text(HEADER + body, encoding="utf-8")


if __name__ == "__main__":
    main()
