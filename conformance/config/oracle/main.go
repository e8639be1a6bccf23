// Command oracle parses one config file with nats-server's own `conf`
// package (the reference implementation for edge's config language) and
// prints the result as one line of canonical JSON.
//
//	oracle FILE
//
// Output (always exit status 0 once FILE has been handed to the parser):
//
//	success: the top-level map, keys sorted at every level, with
//	         map -> object, []interface{} -> array, string -> string,
//	         bool -> bool, int64 -> {"int":N}, float64 -> {"float":X},
//	         time.Time -> {"time":"<RFC3339 in UTC>"}
//	error:   {"error":"<err.Error()>"}
//
// Build (GOPATH mode, with the Debian package golang-github-nats-io-nats-server-dev):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o oracle .
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats-server/conf"
)

// canon turns a parsed value into something encoding/json prints in the
// corpus format. encoding/json sorts map keys itself.
func canon(v interface{}) (interface{}, error) {
	switch t := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, e := range t {
			c, err := canon(e)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case []interface{}:
		out := make([]interface{}, 0, len(t))
		for _, e := range t {
			c, err := canon(e)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	case string:
		return t, nil
	case bool:
		return t, nil
	case int64:
		return map[string]interface{}{"int": t}, nil
	case float64:
		return map[string]interface{}{"float": t}, nil
	case time.Time:
		return map[string]interface{}{"time": t.UTC().Format(time.RFC3339)}, nil
	}
	return nil, fmt.Errorf("oracle: unexpected value type %T", v)
}

func emit(v interface{}) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(os.Stderr, "oracle: cannot encode JSON: %v\n", err)
		os.Exit(3)
	}
	os.Stdout.Write(buf.Bytes()) // Encode already ends the line with '\n'
}

func main() {
	// nats-server has no include or variable cycle detection and recurses
	// until Go's 1 GB stack limit is hit, which takes seconds. A smaller
	// limit makes those cases crash the same way, only sooner. No legitimate
	// case in the corpus comes anywhere near it.
	debug.SetMaxStack(128 << 20)
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: oracle FILE")
		os.Exit(2)
	}
	m, err := conf.ParseFile(os.Args[1])
	if err != nil {
		emit(map[string]interface{}{"error": err.Error()})
		return
	}
	c, err := canon(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	emit(c)
}
