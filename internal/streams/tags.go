package streams

import (
	"context"
	"sort"
	"strings"
	"unicode"
)

// maxTags is how many tags one stream may carry.
const maxTags = 50

// Tag is one key/value tag.
type Tag struct{ Key, Value string }

// validTagRune reports whether r may appear in a tag key or value: Unicode
// letters and digits, space separators and _ . / = + - % @ : (the percent
// sign passes this check but is rejected separately, as AWS does).
func validTagRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Zs, r) ||
		strings.ContainsRune("_./=+-%@:", r)
}

// validateTags applies AWS's character rules to tag keys and values. what
// names the operation for the message ("add tags to stream X").
func validateTags(tags map[string]string, what, account string) error {
	pct := false
	for k, v := range tags {
		for _, s := range [2]string{k, v} {
			for _, r := range s {
				if !validTagRune(r) {
					return errorf(KindInvalidArgument, "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - %% @ :.")
				}
			}
			pct = pct || strings.ContainsRune(s, '%')
		}
	}
	if pct {
		return errorf(KindInvalidArgument, "Failed to %s under account %s because some tags contained illegal characters. The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@',':'.", what, account)
	}
	return nil
}

// AddTags adds or overwrites tags on an ACTIVE stream.
func (s *Streams) AddTags(ctx context.Context, ref StreamRef, tags map[string]string) error {
	return s.update(ctx, ref, func(st *Stream) error {
		what := "add tags to stream " + st.Name
		if err := validateTags(tags, what, st.Account); err != nil {
			return err
		}
		if err := requireActive(st); err != nil {
			return err
		}
		n := len(st.Tags)
		for k := range tags {
			if _, ok := st.Tags[k]; !ok {
				n++
			}
		}
		if n > maxTags {
			return errorf(KindInvalidArgument, "Failed to %s under account %s because a given stream cannot have more than %d tags associated with it.", what, st.Account, maxTags)
		}
		if st.Tags == nil {
			st.Tags = make(map[string]string, len(tags))
		}
		for k, v := range tags {
			st.Tags[k] = v
		}
		return nil
	})
}

// RemoveTags removes tags from an ACTIVE stream; unknown keys are ignored.
func (s *Streams) RemoveTags(ctx context.Context, ref StreamRef, keys []string) error {
	return s.update(ctx, ref, func(st *Stream) error {
		for _, k := range keys {
			for _, r := range k {
				if !validTagRune(r) || r == '%' {
					return errorf(KindInvalidArgument, "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - %% @ :.")
				}
			}
		}
		if err := requireActive(st); err != nil {
			return err
		}
		for _, k := range keys {
			delete(st.Tags, k)
		}
		return nil
	})
}

// TagPage is one page of a stream's tags.
type TagPage struct {
	Tags    []Tag
	HasMore bool
}

// ListTags returns up to limit tags (all when limit <= 0) whose keys sort
// after exclusiveStart, by key.
func (s *Streams) ListTags(ref StreamRef, exclusiveStart string, limit int) (TagPage, error) {
	st, err := s.lookupLive(ref)
	if err != nil {
		return TagPage{}, err
	}
	return st.tagPage(exclusiveStart, limit), nil
}

func (st *Stream) tagPage(exclusiveStart string, limit int) TagPage {
	keys := make([]string, 0, len(st.Tags))
	for k := range st.Tags {
		if k > exclusiveStart {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var p TagPage
	if limit > 0 && len(keys) > limit {
		keys, p.HasMore = keys[:limit], true
	}
	p.Tags = make([]Tag, len(keys))
	for i, k := range keys {
		p.Tags[i] = Tag{Key: k, Value: st.Tags[k]}
	}
	return p
}
