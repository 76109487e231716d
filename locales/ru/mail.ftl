# Failure emails, their advice, and test-mail.
# Each message is in locales/en and locales/ru with the same { $arguments }; `cargo test` checks both.

advice-check-credentials = проверьте токен и оплату в кабинете провайдера (Wappi, GREEN-API, Wazzup24…), затем отправьте доставку снова
advice-fix-and-resend = устраните названную причину, затем отправьте доставку снова
advice-provider-down = провайдер так и не принял сообщение: когда он снова заработает, отправьте доставку снова
advice-outcome-unknown = провайдер принял запрос, но так и не ответил, поэтому сообщение могло дойти до клиента, а могло и нет; сервис сам не отправляет его снова, чтобы не прислать дважды. Уточните у клиента; если сообщения нет, отправьте его снова в консоли («Доставки») или командой `torrow-hooks replay <id>`
advice-still-retried = пока ничего делать не нужно: отправка повторяется, а если провайдер так и не заработает, придёт ещё одно письмо
advice-fix-url = исправьте ссылку WebHook в Torrow (консоль проверит её)
advice-add-recipient-field = в форме записи нужен телефон клиента (или поле, названное в ссылке): добавьте его в Torrow
advice-fix-template = исправьте шаблон (редактор шаблонов в консоли покажет ошибку), затем отправьте доставку снова
advice-shorten-message = сократите message или sign_text либо скройте части сообщения параметрами ссылки
count-characters = { $n ->
    [one] { $n } символ
    [few] { $n } символа
   *[many] { $n } символов
}
mail-torrow-hooks-what-case-channel = [torrow-hooks] { $what }: { $case } ({ $channel })
mail-booking-number = запись { $number }
mail-order-number = заказ { $number }
mail-event-participation-number = участие в мероприятии { $number }
mail-client-name = Клиент: { $name }
mail-client-s-phone-phone = Телефон клиента: { $phone }
mail-torrow-hooks-what-channel = [torrow-hooks] { $what } ({ $channel })
mail-torrow-hooks-total-delivery-problems = [torrow-hooks] Проблем с доставкой: { $total }
mail-total-problems-happened-since-last = С прошлого письма проблем: { $total } (на один адрес уходит не больше одного письма за период mail.throttle).
mail-n-total = === { $n } из { $total } ===
mail-more-more-listed-here-see = … и ещё { $more }, здесь не перечислены (см. журнал сервиса, `torrow-hooks deliveries` или `torrow-hooks replay --all-dead`).
mail-torrow-hooks-webhook-notifications-torrow = torrow-hooks: уведомления WebHook для Torrow
mail-what-failed-what = Что случилось: { $what }
mail-why-why = Причина: { $why }
mail-when-time = Когда: { $time }
mail-channel-channel-target = Канал: { $channel } ({ $target })
mail-case-booking = Запись: { $number } (id { $id })
mail-case-order = Заказ: { $number } (id { $id })
mail-case-event = Участие в мероприятии: { $number } (id { $id })
mail-service-service = Услуга: { $service }
mail-time-time = Время записи: { $time }
mail-recipient-recipient = Получатель: { $recipient }
mail-delivery-id-id-resend-torrow = Доставка: { $id } (отправить снова: torrow-hooks replay { $id2 })
mail-hook-parameters-query = Параметры ссылки: { $query }
mail-message-delivered-first-n-chars = Недоставленное сообщение (первые { $n } из { $chars } символов):
mail-message-delivered = Недоставленное сообщение:
mail-delivery-failed = Доставка не удалась
mail-delivery-given-up-still-failing = Доставка прекращена: сообщение не удалось отправить за отведённое время
mail-wrong-parameters = Неверные параметры
mail-unknown-channel = Неизвестный канал
mail-unusable-event = Событие не подходит
mail-recipient = Нет получателя
mail-template-failed = Ошибка шаблона
mail-message-too-long = Слишком длинное сообщение
mail-delivery-still-failing = Доставка пока не удалась (отправка повторяется)
mail-what-to-do = Что делать: { $advice }
mail-in-console = В консоли: { $url }
test-mail-subject = [torrow-hooks] Проверочное письмо
test-mail-body = Это проверочное письмо от torrow-hooks: отчёты об ошибках доставки будут приходить на этот адрес.
test-mail-sent = отправлено на { $address } через mail.smtp_url
test-mail-written-as-file = mail.smtp_url не задан, поэтому письмо не отправлено, а записано файлом в { $dir }
test-mail-bad-address = на { $address } письмо не отправить: { $why }
test-mail-advice-said = { $advice } (ответ сервера: { $said })
test-mail-timeout = SMTP-сервер не ответил вовремя: проверьте адрес и порт в mail.smtp_url и что брандмауэр выпускает эту машину на этот порт
test-mail-tls = не удалось установить TLS: smtps:// — для порта 465, а для порта 587 пишите smtp://…:587?tls=required
test-mail-login = SMTP-сервер не принял логин: проверьте пользователя и пароль в mail.smtp_url; символ @ в логине пишется как %40 smtps://user%40example.com:password@smtp.example.com)
test-mail-sender = SMTP-сервер не принял отправителя или получателя: в mail.from должен быть адрес, от имени которого сервер разрешает отправлять
test-mail-connect = не удаётся подключиться к SMTP-серверу: проверьте адрес и порт в mail.smtp_url
test-mail-refused = SMTP-сервер не принял письмо
test-mail-not-made = письмо не удалось составить: { $why }
test-mail-file-problem = { $path }: { $why }
confirm-mail-subject = torrow-hooks: подтвердите адрес для отчётов о сбоях доставки
confirm-mail-why = Вебхук Torrow, который обслуживает torrow-hooks, указывает этот адрес для отчётов о случаях, когда уведомление клиенту о записи не удаётся доставить.
confirm-mail-link = Если вы ждёте эти отчёты, откройте ссылку и нажмите кнопку (ссылка действует { $days } дней): { $link }
confirm-mail-ignore = Если нет, просто не отвечайте на это письмо: на этот адрес больше ничего не придёт, и повторный запрос будет не раньше чем через { $days } дней.
confirm-page-title = Отчёты о сбоях от torrow-hooks
confirm-page-ask = Нажмите кнопку, чтобы получать на этот адрес отчёты об уведомлениях, которые не удалось доставить.
confirm-page-button = Да, присылайте отчёты
confirm-page-done = Готово: отчёты о сбоях теперь приходят на { $address }.
confirm-page-unknown = Ссылка неизвестна, устарела или уже использована. Новая придёт со следующим отчётом о сбое, не позже чем через 30 дней.
confirm-page-failed = Не удалось подтвердить адрес прямо сейчас; откройте ссылку ещё раз чуть позже.
