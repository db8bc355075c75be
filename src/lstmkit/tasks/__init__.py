"""Applications: forecasting (and, in time, text generation, classification, speech and
translation), each built on lstmkit's models."""
