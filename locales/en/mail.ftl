# Failure emails, their advice, and test-mail.
# Each message is in locales/en and locales/ru with the same { $arguments }; `cargo test` checks both.

advice-check-credentials = check the token and the payment in the provider's cabinet, then send the delivery again
advice-fix-and-resend = fix what the reason names, then send the delivery again
advice-provider-down = the provider did not take the message in time: once it works again, send the delivery again
advice-outcome-unknown = the provider took the request but never answered, so the client may or may not have the message; it is not sent again by itself, so as not to send it twice. Ask the client; if it did not arrive, send it again from the console (Deliveries) or with `torrow-hooks replay <id>`
advice-still-retried = nothing to do yet: it is being retried, and if the provider stays down, it is reported again when given up
advice-fix-url = correct the hook URL in Torrow (the console checks it for you)
advice-add-recipient-field = the booking form needs the client's phone (or the field the hook URL names): add it in Torrow
advice-fix-template = mend the template (the console's template editor shows the error), then send the delivery again
advice-shorten-message = shorten message or sign_text, or hide parts of the message in the hook URL
count-characters = { $n ->
    [one] { $n } character
   *[other] { $n } characters
}
mail-torrow-hooks-what-case-channel = [torrow-hooks] { $what }: { $case } ({ $channel })
mail-booking-number = booking { $number }
mail-order-number = order { $number }
mail-event-participation-number = event participation { $number }
mail-client-name = Client: { $name }
mail-client-s-phone-phone = Client's phone: { $phone }
mail-torrow-hooks-what-channel = [torrow-hooks] { $what } ({ $channel })
mail-torrow-hooks-total-delivery-problems = [torrow-hooks] { $total } delivery problems
mail-total-problems-happened-since-last = { $total } problems happened since the last email (at most one email is sent per address per throttle period).
mail-n-total = === { $n } of { $total } ===
mail-more-more-listed-here-see = … and { $more } more, not listed here (see the service log, or `torrow-hooks replay --all-dead`).
mail-torrow-hooks-webhook-notifications-torrow = torrow-hooks: WebHook notifications for Torrow
mail-what-failed-what = What failed: { $what }
mail-why-why = Why: { $why }
mail-when-time = When: { $time }
mail-channel-channel-target = Channel: { $channel } ({ $target })
mail-case-booking = Booking: { $number } (id { $id })
mail-case-order = Order: { $number } (id { $id })
mail-case-event = Event participation: { $number } (id { $id })
mail-service-service = Service: { $service }
mail-time-time = Time: { $time }
mail-recipient-recipient = Recipient: { $recipient }
mail-delivery-id-id-resend-torrow = Delivery id: { $id } (resend with: torrow-hooks replay { $id2 })
mail-hook-parameters-query = Hook parameters: { $query }
mail-message-delivered-first-n-chars = The message that was not delivered (the first { $n } of { $chars } characters):
mail-message-delivered = The message that was not delivered:
mail-delivery-failed = Delivery failed
mail-delivery-given-up-still-failing = Delivery given up (still failing at the maximum age)
mail-wrong-parameters = Wrong parameters
mail-unknown-channel = Unknown channel
mail-unusable-event = Unusable event
mail-recipient = No recipient
mail-template-failed = Template failed
mail-message-too-long = Message too long
mail-delivery-still-failing = Delivery still failing (it is being retried)
mail-what-to-do = What to do: { $advice }
mail-in-console = In the console: { $url }
test-mail-subject = [torrow-hooks] Test email
test-mail-body = This is a test email from torrow-hooks: failure reports will reach this address.
test-mail-sent = sent to { $address } through mail.smtp_url
test-mail-written-as-file = mail.smtp_url is empty, so the email was written as a file under { $dir } instead of being sent
test-mail-bad-address = { $address } is not an address that can be mailed: { $why }
test-mail-advice-said = { $advice } (the server said: { $said })
test-mail-timeout = the SMTP server did not answer in time: check the host and port in mail.smtp_url, and that the firewall lets this machine out on that port
test-mail-tls = the TLS handshake failed: smtps:// is for port 465, and for port 587 write smtp://…:587?tls=required
test-mail-login = the SMTP server refused the login: check the user and password in mail.smtp_url (an @ in the login is written %40, smtps://user%40example.com:password@smtp.example.com)
test-mail-sender = the SMTP server refused the sender or the recipient: mail.from must be an address the server lets you send as
test-mail-connect = this machine cannot connect to the SMTP server: check the host and port in mail.smtp_url
test-mail-refused = the SMTP server refused the email
test-mail-not-made = the email could not be made: { $why }
test-mail-file-problem = { $path }: { $why }
confirm-mail-subject = torrow-hooks: confirm this address for delivery failure reports
confirm-mail-why = A Torrow webhook served by torrow-hooks names this address to get reports when a booking notification to a client cannot be delivered.
confirm-mail-link = If you expect these reports, open this link and press the button (it works for { $days } days): { $link }
confirm-mail-ignore = If you do not, ignore this email: nothing more is sent to this address, and it is not asked again for { $days } days.
confirm-page-title = Failure reports from torrow-hooks
confirm-page-ask = Press the button to get reports about notifications that could not be delivered at this address.
confirm-page-button = Yes, send me the reports
confirm-page-done = Done: failure reports now go to { $address }.
confirm-page-unknown = This link is unknown, expired or used already. A new one comes with the next failure report, after at most 30 days.
confirm-page-failed = The address could not be confirmed just now; please open the link again later.
