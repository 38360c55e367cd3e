"""A person's override of the witness rule, as `aiq-pipeline retry` spells it and the exceptions' fixes name it (its
own module: the command line declares the option without importing the writer)."""

REWRITE_UNKNOWN_FLAG = "--rewrite-unknown-may-duplicate"
