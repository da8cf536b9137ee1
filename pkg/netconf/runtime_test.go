package netconf

import (
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestParseArgs(t *testing.T) {
	long := strings.Repeat("p", MaxArgValue+1)
	for _, tc := range []struct {
		name, in string
		want     PodArgs
		msgHas   string // non-empty: want code 4 with it
	}{
		{name: "empty", in: ""},
		{name: "kubelet's", in: "IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1",
			want: PodArgs{Namespace: "prod", Name: "web-0", InfraContainerID: "abc"}},
		{name: "known keys without IgnoreUnknown", in: "K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0",
			want: PodArgs{Namespace: "prod", Name: "web-0"}},
		{name: "unknown keys with IgnoreUnknown", in: "FOO=1;IgnoreUnknown=true;K8S_POD_NAME=web;BAR=" + long, want: PodArgs{Name: "web"}},
		{name: "IgnoreUnknown in capitals", in: "IgnoreUnknown=True;FOO=1"},
		{name: "the last value wins", in: "K8S_POD_NAME=a;K8S_POD_NAME=b", want: PodArgs{Name: "b"}},
		{name: "an empty value", in: "K8S_POD_NAME=", want: PodArgs{}},
		{name: "a value of the longest Kubernetes name", in: "K8S_POD_NAME=" + long[1:], want: PodArgs{Name: long[1:]}},
		{name: "unknown key", in: "K8S_POD_NAME=web;FOO=bar;MAC=x", msgHas: `unknown keys "FOO", "MAC"`},
		{name: "IgnoreUnknown off", in: "IgnoreUnknown=0;FOO=bar", msgHas: `unknown keys "FOO"`},
		{name: "keys are case-sensitive", in: "k8s_pod_name=web", msgHas: `unknown keys "k8s_pod_name"`},
		{name: "bare key", in: "K8S_POD_NAME", msgHas: `pair 1 "K8S_POD_NAME" is not KEY=VALUE`},
		{name: "two equals signs", in: "a=b=c", msgHas: `pair 1 "a=b=c"`},
		{name: "empty pair", in: "K8S_POD_NAME=a;;K8S_POD_NAMESPACE=b", msgHas: `pair 2 ""`},
		{name: "trailing semicolon", in: "K8S_POD_NAME=a;", msgHas: `pair 2 ""`},
		{name: "empty key", in: "IgnoreUnknown=1;=x", msgHas: `pair 2 "=x" has an empty key`},
		{name: "IgnoreUnknown not a boolean", in: "IgnoreUnknown=yes", msgHas: `IgnoreUnknown "yes"`},
		{name: "a value too long", in: "K8S_POD_NAMESPACE=" + long, msgHas: "K8S_POD_NAMESPACE is 254 bytes long, more than the 253"},
		{name: "not UTF-8", in: "K8S_POD_NAME=w\xffeb", msgHas: `CNI_ARGS "K8S_POD_NAME=w\xffeb" is not valid UTF-8 (byte 14)`},
		{name: "a huge bad pair is quoted cut", in: "a=" + strings.Repeat("b", 1<<17) + "=c", msgHas: "... (131076 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseArgs(tc.in)
			if tc.msgHas != "" {
				wantCNIError(t, err, types.ErrInvalidEnvironmentVariables, tc.msgHas)
				if msg := err.(*types.Error).Msg; len(msg) > 300 {
					t.Errorf("message of %d bytes", len(msg))
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseArgs = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestCheckCNIVariables(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		msgHas string // "": no error
	}{
		{"ifname", CheckIfName("eth0"), ""},
		{"ifname of 15 bytes", CheckIfName("abcdefghijklmno"), ""},
		{"ifname of 16 bytes", CheckIfName("abcdefghijklmnop"), `invalid CNI_IFNAME "abcdefghijklmnop": it is 16 bytes long; the kernel allows 15`},
		{"ifname empty", CheckIfName(""), `invalid CNI_IFNAME "": it is empty`},
		{"ifname dot", CheckIfName("."), "the kernel refuses . and .."},
		{"ifname with a slash", CheckIfName("a/b"), `invalid CNI_IFNAME "a/b"`},
		{"ifname with a colon", CheckIfName("a:b"), `invalid CNI_IFNAME "a:b"`},
		{"ifname with a newline", CheckIfName("a\nb"), `invalid CNI_IFNAME "a\nb"`},
		{"ifname with a non-breaking space", CheckIfName("a\u00a0b"), "white space"},
		{"ifname not UTF-8", CheckIfName("eth\xff"), `CNI_IFNAME "eth\xff" is not valid UTF-8 (byte 3)`},
		{"container id", CheckContainerID("c0ffee-1234_ab.cd"), ""},
		{"container id with a slash", CheckContainerID("../x"), `invalid CNI_CONTAINERID "../x"`},
		{"container id empty", CheckContainerID(""), `invalid CNI_CONTAINERID ""`},
		{"netns", CheckNetnsPath("/var/run/netns/pod"), ""},
		{"netns relative", CheckNetnsPath("pod"), `invalid CNI_NETNS "pod": want an absolute path`},
		{"netns not UTF-8", CheckNetnsPath("/run/netns/\xfe"), `CNI_NETNS "/run/netns/\xfe" is not valid UTF-8 (byte 11)`},
		{"UTF-8", CheckUTF8("CNI_PATH", "/opt/cni/bin:/usr/libexec/cni"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.msgHas == "" {
				if tc.err != nil {
					t.Fatal(tc.err)
				}
				return
			}
			wantCNIError(t, tc.err, types.ErrInvalidEnvironmentVariables, tc.msgHas)
		})
	}
}
