# The outbox: delivery states and storage faults.
# Each message is in locales/en and locales/ru with the same { $arguments }; `cargo test` checks both.

outcome-retry = retry
state-pending = pending
state-sending = sending
state-sent = sent
state-failed = failed
state-dead = dead
state-unknown = outcome unknown
store-outbox-file-removed = the outbox file was removed
store-outbox-file-replaced-another-file = the outbox file was replaced by another file
store-outbox-file-truncated = the outbox file was truncated
store-outbox-cannot-written-why = the outbox cannot be written: { $why }
store-disk-full = the disk is full
store-permission-write-file-error = no permission to write the file ({ $error })
store-pending-deliveries-waiting-most-outbox = { $pending } deliveries are waiting, the most the outbox holds (delivery.max_pending)
store-outbox-takes-size-bytes-limit = the outbox takes { $size } bytes, its limit (delivery.max_outbox_bytes)
store-only-free-bytes-free-outbox = only { $free } bytes are free on the outbox's disk, less than delivery.min_free_bytes ({ $min })
store-outbox-cannot-read-error = the outbox cannot be read: { $error }
store-file-cannot-be-written = the file cannot be written ({ $error })
store-file-damaged = the file is damaged ({ $error })
