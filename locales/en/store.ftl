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
outbox-missing = is missing
outbox-empty = is empty
outbox-cut-short = is cut short (smaller than its own header says)
outbox-not-sqlite = is not an SQLite database
outbox-another = holds another outbox
outbox-lost = The outbox { $path } { $what }, but the deliveries accepted before were kept there (outbox { $id }); starting with an empty outbox would lose them without a word, so the service does not start. Put the file back from a backup (with its -wal file, if there is one) and start again; or, to start with a new, empty outbox on purpose (whatever was waiting in the old one is lost), run `torrow-hooks new-outbox`, then start the service.
stop-unrecorded = { $count } attempts' ends could not be written to the outbox (its disk is full or it cannot be written): those deliveries are looked at again at the next start (asked of the provider, or held for you)
stop-outbox-removed = the outbox file was removed and could not be written back (its folder is gone or cannot be written): { $count } deliveries accepted before are lost with this stop; restore the outbox from a backup if there is one
store-unvouched-share-full = hooks whose credentials no provider has accepted yet have filled their share of the outbox ({ $deliveries } deliveries, { $bytes } bytes; delivery.unvouched_share). Check the hook URL once in Torrow (saving it there does), so that its credentials are accepted, or try again later
