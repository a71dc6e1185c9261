package storage

import "fmt"

// The settings area is a small key/value map for preferences the workbench
// remembers between sessions (theme, last provider and model, pane layout).
// Keys are short names such as "ui.theme"; values are strings the caller
// encodes as it likes.

// PutSetting sets a setting; an empty value deletes it.
func PutSetting(tx *Tx, key, value string) error {
	if key == "" {
		return fmt.Errorf("setting with an empty key: %w", ErrInvalid)
	}
	b, err := tx.writeBucket(bucketSettings)
	if err != nil {
		return err
	}
	if value == "" {
		return wrapWrite(b.Delete([]byte(key)))
	}
	return wrapWrite(b.Put([]byte(key), []byte(value)))
}

// GetSetting returns a setting and whether it is set.
func GetSetting(tx *Tx, key string) (string, bool) {
	b := tx.bucket(bucketSettings)
	if b == nil {
		return "", false
	}
	v := b.Get([]byte(key))
	return string(v), v != nil
}

// ListSettings returns every setting.
func ListSettings(tx *Tx) map[string]string {
	out := map[string]string{}
	if b := tx.bucket(bucketSettings); b != nil {
		b.ForEach(func(k, v []byte) error { out[string(k)] = string(v); return nil })
	}
	return out
}
