"""A second, independent scenario generator and the detection-quality report.

Written from the regulations and from how customers and criminals behave, not from
txmon's rules: nothing here imports ``rules`` or reads its thresholds. Each account is
labelled by intent (``hold``: the bank must stop it, ``alert``: an officer should see
it, ``none``: leave the customer alone), never by rule id, so the report measures what
the rules catch rather than restating them.

    python -m loadtest.quality              # generate, back-test, run a real worker, print the table
    python -m loadtest.quality --no-live    # back-test only (no Kafka or Redis needed)
"""
