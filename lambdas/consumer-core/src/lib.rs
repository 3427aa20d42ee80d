//! The SQS batch-processing core every consumer runs on.
