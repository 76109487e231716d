# Message templates: the editor, the render guard, template files.
# Each message is in locales/en and locales/ru with the same { $arguments }; `cargo test` checks both.

editor-template-name-locale-locale = Шаблона { $name } в локали { $locale } нет
editor-locale-locale = Локали { $locale } нет
editor-template-saved-why = Шаблон не сохранён: { $why }
editor-line-line-column-column-what = строка { $line }, позиция { $column }: { $what }
editor-template-store-could-used-error = Хранилище шаблонов недоступно: { $error }
editor-locale-locale-already-has-count = В локали { $locale } уже { $count } шаблонов — больше нельзя
editor-template-name-locale-has-version = У шаблона { $name } ({ $locale }) нет версии { $version }
editor-template-name-locale-has-console = У шаблона { $name } ({ $locale }) нет версии из консоли: уже работает файл
editor-template-name-1-max-z = Имя шаблона — от 1 до { $max } символов a-z, 0-9, _ и -, а не { $name }
editor-write-one-line-note-1 = Напишите в одну строку (от 1 до { $max } символов), что изменено
editor-file = файл
editor-edited-console-date-version-version = изменён в консоли { $date } (версия { $version })
editor-dir-every-template-renders-every = { $dir }: все шаблоны отрисовывают все примеры
editor-restored-version = восстановлена версия { $version }
editor-use-the-file = вернуть версию из файла
editor-your-event = ваше событие
guard-budget-steps = остановлено ограничением на отрисовку: циклы заняли бы больше { $max } шагов в одном сообщении
guard-budget-time = остановлено ограничением на отрисовку: отрисовка заняла больше { $ms } мс
guard-budget-bytes = остановлено ограничением на отрисовку: шаблон по пути создал больше { $kib } КиБ текста (replace, join, indent или ~, многократно увеличивающие текст)
guard-concat-where = `~` можно использовать только в {"{{"} … {"}}"} и в set: в других местах созданный им текст нельзя учесть; сначала соберите текст в set
guard-too-many-concats = больше { $max } знаков `~` в одном теге: разделите его на несколько или используйте цикл
guard-output-too-long = текст вырос больше { $kib } КиБ и был остановлен
guard-no-comprehensions = генераторы списков ([x for x in …]) в шаблонах сообщений запрещены; используйте {"{"}% for %{"}"}
guard-no-components = компоненты в шаблонах сообщений запрещены; используйте {"{"}% include %{"}"}
guard-set-in-loop = {"{"}% { $set } %{"}"} внутри {"{"}% for %{"}"} запрещён
guard-set-self-reference = {"{"}% { $set } %{"}"} не может использовать { $name }: эту переменную задаёт сам шаблон (текст, собранный из самого себя, может расти без конца); соберите его из переменных сообщения
guard-source-too-long = в шаблоне { $chars } символов; можно не больше { $max }
guard-block-set = блочная форма {"{"}% { $set } name %{"}"}…{"{"}% end{ $set } %{"}"} запрещена; пишите {"{"}% { $set } name = … %{"}"}
locale-datetime-format-invalid = datetime_format { $value } — неверный формат strftime
template-error-at = шаблон { $file } локали { $locale }, строка { $line }, позиция { $column }: { $what }
template-error-with-sample = { $error } (на встроенном примере события «{ $sample }»)
template-error-with-sample-and-phone = { $error } (на встроенном примере события «{ $sample }» с phone=)
template-newest-refused = новый текст шаблона { $name } ({ $locale }) не принят, поэтому { $served }: { $why }
template-previous-text-in-use = работает прежний текст
template-console-version-in-use = работает версия { $version } из консоли
template-not-available = шаблона нет
template-name-not-available = шаблона { $name } в локали { $locale } нет
template-locale-file-bad-value = в { $locale_file } локали { $locale } есть непригодное значение (какое — в журнале сервиса)
template-locale-unreadable = файлы локали { $locale } не читаются (причина — в журнале сервиса)
template-locale-refused = шаблоны { $locale } изменены, но не приняты, поэтому работает прежняя версия: { $why }
template-folder-unreadable = папку шаблонов { $dir } не удалось прочитать ({ $why }); если путь не абсолютный, она ищется от рабочей папки { $cwd }: задайте templates.dir или запускайте из папки, где лежит templates/ (см. --config)
template-folder-no-locales = в папке шаблонов { $dir } нет папок языков (например, ru-RU/ с message{ $suffix } и { $locale_file })
template-file-problem = { $path }: { $why }
template-file-line-column = { $file }:{ $line }:{ $column }: { $what }
template-locale-unavailable = язык { $locale } больше недоступен
template-folder-unreadable-public = папку шаблонов не удалось прочитать (причина — в журнале сервиса)
template-locale-file-invalid-at = { $file } языка { $locale } — неверный TOML около байта { $byte }
template-locale-file-invalid = { $file } языка { $locale } — неверный TOML
template-sample-event-at = { $error } (пример события «{ $sample }»)
