"""The gateway: the front door for people (REST API, web UI, job status). Not a stage: it publishes requests and
reads the store."""
