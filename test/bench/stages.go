package bench

import (
	"bufio"
	"bytes"
	"crypto/sha512"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The ADD stage breakdown the host agent logs, one Info line per
// successful ADD (slog's text format):
//
//	time=... level=INFO msg="ADD stages" command=ADD container_id=c1 ifname=eth0
//	  logical_port=x attachment=y plugin_started_ms=-8.1 vf_resolved_ms=0.4 ...
//
// Host stages are offsets from the moment the agent received the request
// (plugin_started_ms is negative: the plugin started before that); the
// dpu_* ones are durations on the DPU's clock.
const stagesMsg = "ADD stages"

// hostStages and dpuStages are the attributes the report lists, in the
// order an ADD passes them; any other *_ms attribute is listed after them.
var (
	hostStages = []string{"plugin_started_ms", "vf_resolved_ms", "ipam_done_ms", "lsp_committed_ms",
		"vf_configured_ms", "ready_ms", "answered_ms"}
	dpuStages = []string{"dpu_seen_to_plugged_ms", "dpu_plugged_to_claimed_ms", "dpu_claimed_to_installed_ms"}
)

// agentLine is what the host agent logged about one ADD.
type agentLine struct {
	// stages are the *_ms attributes of its "ADD stages" line, in ms.
	stages map[string]float64
	// done is the duration of its "CNI request done" line: receipt to
	// answer, when the stages line lacks answered_ms.
	done    time.Duration
	hasDone bool
}

// answered is the agent-side time of the ADD (received → answered) and
// where it came from.
func (l agentLine) answered() (time.Duration, string, bool) {
	if v, ok := l.stages["answered_ms"]; ok {
		return time.Duration(v * float64(time.Millisecond)), `answered_ms of "ADD stages"`, true
	}
	if l.hasDone {
		return l.done, `duration of "CNI request done"`, true
	}
	return 0, "", false
}

// parseAgentLog reads the host agent's log and returns, by container ID,
// what it logged about each successful ADD. It is tolerant: lines it does
// not understand, attributes that do not parse and missing stages are
// skipped, so a host agent that logs fewer (or more) stages still gives
// what it has.
func parseAgentLog(path string) (map[string]agentLine, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]agentLine{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		attrs := parseSlogLine(sc.Text())
		if attrs["command"] != "ADD" || attrs["container_id"] == "" {
			continue
		}
		id := attrs["container_id"]
		l := out[id]
		switch attrs["msg"] {
		case stagesMsg:
			l.stages = stageValues(attrs)
		case "CNI request done":
			if d, err := time.ParseDuration(attrs["duration"]); err == nil {
				l.done, l.hasDone = d, true
			}
		default:
			continue
		}
		out[id] = l
	}
	return out, sc.Err()
}

// stageValues picks the *_ms attributes that are numbers (or Go durations,
// should the agent ever log those) and converts them to milliseconds.
func stageValues(attrs map[string]string) map[string]float64 {
	st := map[string]float64{}
	for k, v := range attrs {
		if !strings.HasSuffix(k, "_ms") {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			st[k] = f
		} else if d, err := time.ParseDuration(v); err == nil {
			st[k] = float64(d) / float64(time.Millisecond)
		}
	}
	return st
}

// parseSlogLine splits one line of slog's text format into its key=value
// attributes; quoted values are unquoted. Grouped keys keep their dots.
func parseSlogLine(line string) map[string]string {
	attrs := map[string]string{}
	for s := strings.TrimSpace(line); s != ""; s = strings.TrimLeft(s, " ") {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			break
		}
		key := s[:eq]
		if strings.ContainsAny(key, " \"") { // not a key=value token: resync at the next space
			sp := strings.IndexByte(s, ' ')
			if sp < 0 {
				break
			}
			s = s[sp:]
			continue
		}
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			end := quotedEnd(s)
			raw := s[:end]
			if u, err := strconv.Unquote(raw); err == nil {
				val = u
			} else {
				val = strings.Trim(raw, `"`)
			}
			s = s[end:]
		} else if sp := strings.IndexByte(s, ' '); sp >= 0 {
			val, s = s[:sp], s[sp:]
		} else {
			val, s = s, ""
		}
		attrs[key] = val
	}
	return attrs
}

// quotedEnd is the length of the Go-quoted string s starts with (all of s
// when it is not closed).
func quotedEnd(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(s)
}

// cnitoolContainerID is the container ID cnitool gives an attachment in
// netns pod (as testbed's CNITool names it): cnitool hashes the absolute
// netns path.
func cnitoolContainerID(pod string) string {
	path, _ := filepath.Abs("/var/run/netns/" + pod)
	sum := sha512.Sum512([]byte(path))
	return fmt.Sprintf("cnitool-%x", sum[:10])
}
