"""What every document asset shares: the catalog of document assets, the one asset factory, the events a posting
run reports, partition status (the exceptions list), dead-run recovery and the run requests sensors make."""
