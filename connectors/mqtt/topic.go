package mqtt

import (
	"fmt"
	"strings"
)

// topicFilter is a compiled MQTT topic filter ("+" one level, "#" the rest). A shared subscription
// "$share/<group>/<filter>" is subscribed as written and matched by its filter part.
type topicFilter struct {
	subscribe string   // what is sent to the broker
	levels    []string // the filter's levels, for matching
}

func parseTopicFilter(f string) (topicFilter, error) {
	tf := topicFilter{subscribe: f}
	match := f
	if strings.HasPrefix(f, "$share/") {
		parts := strings.SplitN(f, "/", 3)
		if len(parts) < 3 || parts[1] == "" || parts[2] == "" {
			return tf, fmt.Errorf("shared subscription %q needs $share/<group>/<filter>", f)
		}
		match = parts[2]
	}
	if match == "" {
		return tf, fmt.Errorf("empty topic filter")
	}
	tf.levels = strings.Split(match, "/")
	for i, l := range tf.levels {
		switch {
		case l == "#" && i != len(tf.levels)-1:
			return tf, fmt.Errorf("topic filter %q: # must be the last level", f)
		case l != "#" && l != "+" && strings.ContainsAny(l, "#+"):
			return tf, fmt.Errorf("topic filter %q: wildcards must fill a whole level", f)
		}
	}
	return tf, nil
}

// matches reports whether topic matches the filter (MQTT 3.1.1 §4.7; topics starting with $ are not matched by
// a leading wildcard).
func (tf topicFilter) matches(topic string) bool {
	if strings.HasPrefix(topic, "$") && (tf.levels[0] == "+" || tf.levels[0] == "#") {
		return false
	}
	rest := topic
	for i, l := range tf.levels {
		if l == "#" {
			return true
		}
		var level string
		j := strings.IndexByte(rest, '/')
		last := j < 0
		if last {
			level = rest
		} else {
			level = rest[:j]
		}
		if l != "+" && l != level {
			return false
		}
		if last {
			// "a/#" also matches "a"
			return i == len(tf.levels)-1 || (i == len(tf.levels)-2 && tf.levels[i+1] == "#")
		}
		rest = rest[j+1:]
	}
	return false
}
