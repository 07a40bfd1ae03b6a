package main

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// model is the part of a botocore service-2.json the generator reads.
type model struct {
	Metadata struct {
		APIVersion     string `json:"apiVersion"`
		EndpointPrefix string `json:"endpointPrefix"`
		JSONVersion    string `json:"jsonVersion"`
		Protocol       string `json:"protocol"`
		ServiceID      string `json:"serviceId"`
		TargetPrefix   string `json:"targetPrefix"`
	} `json:"metadata"`
	Operations map[string]*operation `json:"operations"`
	Shapes     map[string]*shape     `json:"shapes"`
}

type operation struct {
	Name   string    `json:"name"`
	Input  *shapeRef `json:"input"`
	Output *shapeRef `json:"output"`
	// HTTP is the operation's method, path template and success status;
	// REST protocols route by it.
	HTTP struct {
		Method       string `json:"method"`
		RequestURI   string `json:"requestUri"`
		ResponseCode int    `json:"responseCode"`
	} `json:"http"`
}

type shapeRef struct {
	Shape         string `json:"shape"`
	Documentation string `json:"documentation"`
	// Location binds a member of a REST protocol's input or output to the
	// request's path ("uri"), query string ("querystring"), a header
	// ("header"), headers by prefix ("headers") or the status code
	// ("statusCode"); empty means the JSON body. LocationName is the
	// path label, query parameter or header it is bound to.
	Location     string `json:"location"`
	LocationName string `json:"locationName"`
}

type shape struct {
	Type          string               `json:"type"`
	Members       map[string]*shapeRef `json:"members"`
	Required      []string             `json:"required"`
	Member        *shapeRef            `json:"member"`
	Key           *shapeRef            `json:"key"`
	Value         *shapeRef            `json:"value"`
	Min           json.Number          `json:"min"`
	Max           json.Number          `json:"max"`
	Pattern       string               `json:"pattern"`
	Enum          []string             `json:"enum"`
	Documentation string               `json:"documentation"`
	Exception     bool                 `json:"exception"`
	// Payload names the member that is the whole HTTP body of a REST
	// protocol's input or output.
	Payload string `json:"payload"`
}

// bound converts a model min/max to an integer; models sometimes write
// them as floats.
func bound(n json.Number) (int64, bool, error) {
	if n == "" {
		return 0, false, nil
	}
	if i, err := n.Int64(); err == nil {
		return i, true, nil
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) {
		return 0, false, fmt.Errorf("bound %q is not an integer", n)
	}
	return int64(f), true, nil
}

var (
	tagRE   = regexp.MustCompile(`<[^>]*>`)
	spaceRE = regexp.MustCompile(`\s+`)
)

// firstSentence strips the model's HTML and keeps its first sentence.
func firstSentence(doc string) string {
	s := tagRE.ReplaceAllString(doc, " ")
	s = html.UnescapeString(s)
	s = strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
	s = strings.ReplaceAll(s, " ,", ",")
	s = strings.ReplaceAll(s, " .", ".")
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && s[i+1] == ' ' {
			// Skip abbreviations such as "e.g. " and "i.e. ".
			prev := s[:i]
			if strings.HasSuffix(prev, "e.g") || strings.HasSuffix(prev, "i.e") || strings.HasSuffix(prev, "etc") {
				continue
			}
			return s[:i+1]
		}
	}
	return s
}

// enumConstName names an enum constant as the AWS SDK for Go v2 does:
// type name plus the value's words, upper-case words title-cased
// (AT_SEQUENCE_NUMBER -> AtSequenceNumber, IncomingBytes -> IncomingBytes).
func enumConstName(typeName, value string) string {
	var b strings.Builder
	b.WriteString(typeName)
	words := strings.FieldsFunc(value, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	for _, w := range words {
		if strings.ToUpper(w) == w {
			w = strings.ToLower(w)
		}
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	if len(words) == 0 {
		b.WriteString("Value" + strconv.Itoa(len(value)))
	}
	return b.String()
}

// exported makes a model name a Go exported identifier.
func exported(name string) string {
	var b strings.Builder
	for i, r := range name {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_':
			if i == 0 {
				r = unicode.ToUpper(r)
			}
			b.WriteRune(r)
		}
	}
	s := b.String()
	if s == "" || unicode.IsDigit(rune(s[0])) {
		s = "X" + s
	}
	return s
}
