package console

// SetOnMissing makes every catalogue key that is looked up and missing
// call f (nil: stop). Tests use it to rule out untranslated strings.
func SetOnMissing(f func(string)) {
	if f == nil {
		onMissing.Store(nil)
		return
	}
	onMissing.Store(&f)
}

// Messages is the catalogue, for the tests.
var Messages = messages
