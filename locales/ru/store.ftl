# The outbox: delivery states and storage faults.
# Each message is in locales/en and locales/ru with the same { $arguments }; `cargo test` checks both.

outcome-retry = повтор
state-pending = ожидает
state-sending = отправляется
state-sent = отправлено
state-failed = не удалось
state-dead = прекращено
state-unknown = исход неизвестен
store-outbox-file-removed = файл хранилища доставок удалён
store-outbox-file-replaced-another-file = файл хранилища доставок заменён другим файлом
store-outbox-file-truncated = файл хранилища доставок обрезан
store-outbox-cannot-written-why = в хранилище доставок нельзя записать: { $why }
store-disk-full = диск заполнен
store-permission-write-file-error = нет прав на запись файла ({ $error })
store-pending-deliveries-waiting-most-outbox = ожидают отправки { $pending } доставок — больше хранилище не вмещает (delivery.max_pending)
store-outbox-takes-size-bytes-limit = хранилище доставок занимает { $size } байт — это его предел (delivery.max_outbox_bytes)
store-only-free-bytes-free-outbox = на диске хранилища свободно только { $free } байт — меньше, чем delivery.min_free_bytes ({ $min })
store-outbox-cannot-read-error = хранилище доставок не читается: { $error }
store-file-cannot-be-written = файл не удаётся записать ({ $error })
store-file-damaged = файл повреждён ({ $error })
outbox-missing = отсутствует
outbox-empty = пустое
outbox-cut-short = обрезано (меньше, чем указано в его собственном заголовке)
outbox-not-sqlite = не является базой данных SQLite
outbox-another = содержит другое хранилище
outbox-lost = Хранилище доставок { $path } { $what }, а принятые ранее доставки хранились в нём (хранилище { $id }); запуск с пустым хранилищем молча потерял бы их, поэтому сервис не запускается. Восстановите файл из резервной копии (вместе с файлом -wal, если он есть) и запустите сервис снова; или, чтобы намеренно начать с нового пустого хранилища (всё, что ждало отправки в старом, будет потеряно), выполните `torrow-hooks new-outbox`, затем запустите сервис.
stop-unrecorded = итоги { $count } попыток не удалось записать в хранилище (диск заполнен или запись невозможна): эти доставки будут проверены при следующем запуске (у провайдера или вами)
stop-outbox-removed = файл хранилища доставок удалён, и записать его обратно не удалось (папки нет или в неё нельзя писать): { $count } принятых ранее доставок теряются с этой остановкой; восстановите хранилище из резервной копии, если она есть
store-unvouched-share-full = вебхуки, чьи учётные данные ещё не принял ни один провайдер, заняли свою долю хранилища доставок ({ $deliveries } доставок, { $bytes } байт; delivery.unvouched_share). Проверьте ссылку вебхука в Torrow (это происходит при её сохранении), чтобы учётные данные были приняты, или повторите позже
