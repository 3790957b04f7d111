"""One module per pipeline stage: (validated params, input paths) → output paths + metrics.

The CLI (`gantl stage <name>`, which dvc.yaml calls), the tests and the bench call these; nothing
here knows about DVC or Prefect. Each stage writes its outputs atomically: a failure leaves the
previous outputs in place. This file imports nothing, so a stage's import closure (and with it
its `deps` in dvc.yaml) holds only the modules that stage uses.
"""
