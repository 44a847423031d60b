package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// jsonOf renders a control API message for scripts, unlike protojson:
//
//   - enums are lowercase names without their type's prefix: "healthy",
//     "succeeded", "replace" (not HEALTH_HEALTHY);
//   - 64-bit integers are numbers ("pages": 3, not "3");
//   - a string field named *_json holds JSON: it is inlined under the name
//     without the suffix ("properties": {…}, "next_state": {…}; null when
//     empty);
//   - every field is present (zero values included, unset messages null),
//     in the order of the .proto, with its .proto name;
//   - timestamps are RFC 3339 in UTC, durations Go durations ("5m0s").
func jsonOf(m proto.Message) any {
	if m == nil {
		return nil
	}
	return messageValue(m.ProtoReflect())
}

// object is a JSON object that keeps its members in order.
type object []member

type member struct {
	k string
	v any
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func messageValue(m protoreflect.Message) any {
	if !m.IsValid() {
		return nil
	}
	switch m.Descriptor().FullName() {
	case "google.protobuf.Timestamp":
		return m.Interface().(*timestamppb.Timestamp).AsTime().UTC().Format(time.RFC3339Nano)
	case "google.protobuf.Duration":
		return m.Interface().(*durationpb.Duration).AsDuration().String()
	}
	fields := m.Descriptor().Fields()
	out := make(object, 0, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Name())
		switch {
		case fd.IsList():
			l := m.Get(fd).List()
			arr := make([]any, l.Len())
			for j := range l.Len() {
				arr[j] = scalar(fd, l.Get(j))
			}
			out = append(out, member{name, arr})
		case fd.IsMap():
			mp := m.Get(fd).Map()
			var keys []protoreflect.MapKey
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool { keys = append(keys, k); return true })
			slices.SortFunc(keys, func(a, b protoreflect.MapKey) int { return strings.Compare(a.String(), b.String()) })
			obj := make(object, 0, len(keys))
			for _, k := range keys {
				v := mp.Get(k)
				if fd.MapValue().Kind() == protoreflect.StringKind {
					obj = append(obj, member{k.String(), attrValue(v.String())})
					continue
				}
				obj = append(obj, member{k.String(), scalar(fd.MapValue(), v)})
			}
			out = append(out, member{name, obj})
		case fd.Message() != nil:
			if !m.Has(fd) {
				out = append(out, member{name, nil})
				continue
			}
			out = append(out, member{name, messageValue(m.Get(fd).Message())})
		case fd.Kind() == protoreflect.StringKind && strings.HasSuffix(name, "_json"):
			s := m.Get(fd).String()
			var v any
			if s != "" {
				if json.Valid([]byte(s)) {
					v = json.RawMessage(s)
				} else {
					v = s
				}
			}
			out = append(out, member{strings.TrimSuffix(name, "_json"), v})
		default:
			out = append(out, member{name, scalar(fd, m.Get(fd))})
		}
	}
	return out
}

func scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		return enumName(fd.Enum(), v.Enum())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return messageValue(v.Message())
	}
	return v.Interface()
}

// enumName is the value's name without the enum's prefix, lowercase:
// RUN_STATUS_SUCCEEDED of RunStatus is "succeeded".
func enumName(ed protoreflect.EnumDescriptor, n protoreflect.EnumNumber) any {
	ev := ed.Values().ByNumber(n)
	if ev == nil {
		return int32(n)
	}
	return strings.ToLower(strings.TrimPrefix(string(ev.Name()), upperSnake(string(ed.Name()))+"_"))
}

// upperSnake turns RunStatus into RUN_STATUS.
func upperSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// attrValue turns a log attribute back into JSON when it was one (the
// server stores non-string attributes, such as counters, as JSON text).
func attrValue(s string) any {
	t := strings.TrimSpace(s)
	if t == "" || !strings.ContainsAny(t[:1], "{[-0123456789tf") || !json.Valid([]byte(t)) {
		return s
	}
	return json.RawMessage(t)
}
