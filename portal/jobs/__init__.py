"""The worker's scheduled jobs (`flask --app portal worker`): the Testpress sync, the outbox,
the expiry of import previews, the staff digest; each run under its lease in `jobs`."""
