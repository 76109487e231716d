# Message templates: the editor, the render guard, template files.
# Each message is in locales/en and locales/ru with the same { $arguments }; `cargo test` checks both.

editor-template-name-locale-locale = No template { $name } in locale { $locale }
editor-locale-locale = No locale { $locale }
editor-template-saved-why = The template was not saved: { $why }
editor-line-line-column-column-what = line { $line }, column { $column }: { $what }
editor-template-store-could-used-error = The template store could not be used: { $error }
editor-locale-locale-already-has-count = Locale { $locale } already has { $count } templates, the most it may have
editor-template-name-locale-has-version = Template { $name } of { $locale } has no version { $version }
editor-template-name-locale-has-console = Template { $name } of { $locale } has no console version: the file already serves
editor-template-name-1-max-z = A template name is 1 to { $max } of a-z, 0-9, _ and -, not { $name }
editor-write-one-line-note-1 = Write a one-line note of 1 to { $max } characters saying what changed
editor-file = file
editor-edited-console-date-version-version = edited in the console on { $date } (version { $version })
editor-dir-every-template-renders-every = { $dir }: every template renders every sample
editor-restored-version = restored version { $version }
editor-use-the-file = use the file
editor-your-event = event (yours)
guard-budget-steps = stopped by the render budget: the loops would take more than { $max } steps in one message
guard-budget-time = stopped by the render budget: rendering took longer than { $ms } ms
guard-budget-bytes = stopped by the render budget: the template made more than { $kib } KiB of text along the way (replace, join, indent or ~ making a text many times larger)
guard-concat-where = `~` is allowed only in {"{{"} … {"}}"} and in set: elsewhere what it makes cannot be counted; build the text in a set first
guard-too-many-concats = more than { $max } `~` in one tag: split it into several, or use a loop
guard-output-too-long = the text grew past { $kib } KiB and was stopped
guard-no-comprehensions = list comprehensions ([x for x in …]) are not allowed in message templates; use {"{"}% for %{"}"}
guard-no-components = components are not allowed in message templates; use {"{"}% include %{"}"}
guard-set-in-loop = {"{"}% { $set } %{"}"} is not allowed inside {"{"}% for %{"}"}
guard-set-self-reference = {"{"}% { $set } %{"}"} may not use { $name }, which a template assigns itself (a text built from itself can grow without end); build it from the message's variables
guard-source-too-long = the template is { $chars } characters long; at most { $max } are allowed
guard-block-set = the block form {"{"}% { $set } name %{"}"}…{"{"}% end{ $set } %{"}"} is not allowed; write {"{"}% { $set } name = … %{"}"}
locale-datetime-format-invalid = datetime_format { $value } is not a valid strftime format
template-error-at = template { $file } of locale { $locale }, line { $line }, column { $column }: { $what }
template-error-with-sample = { $error } (with the built-in sample event "{ $sample }")
template-error-with-sample-and-phone = { $error } (with the built-in sample event "{ $sample }" and phone=)
template-newest-refused = the newest text of template { $name } ({ $locale }) was refused, so { $served }: { $why }
template-previous-text-in-use = the previous text is in use
template-console-version-in-use = console version { $version } is in use
template-not-available = it is not available
template-name-not-available = template { $name } of locale { $locale } is not available
template-locale-file-bad-value = { $locale_file } of locale { $locale } has a value that cannot be used (the service log says which)
template-locale-unreadable = the files of locale { $locale } cannot be read (the service log says why)
template-locale-refused = the templates of { $locale } were edited but refused, so an older version is in use: { $why }
template-folder-unreadable = templates folder { $dir } cannot be read ({ $why }); it is looked up from the working directory { $cwd } unless absolute: set templates.dir, or start from the folder that holds templates/ (see --config)
template-folder-no-locales = templates folder { $dir } has no locale folders (e.g. ru-RU/ with message{ $suffix } and { $locale_file })
template-file-problem = { $path }: { $why }
template-file-line-column = { $file }:{ $line }:{ $column }: { $what }
template-locale-unavailable = locale { $locale } is no longer available
template-folder-unreadable-public = the templates folder cannot be read (the service log says why)
template-locale-file-invalid-at = { $file } of locale { $locale } is not valid TOML near byte { $byte }
template-locale-file-invalid = { $file } of locale { $locale } is not valid TOML
template-sample-event-at = { $error } (sample event "{ $sample }")
