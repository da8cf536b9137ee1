package hostagent

import (
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
)

func TestLSPNameTemplate(t *testing.T) {
	pod, err := netconf.ParseArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc")
	if err != nil || pod.Namespace != "prod" || pod.Name != "web-0" || pod.InfraContainerID != "abc" {
		t.Fatalf("parsed CNI_ARGS %+v, %v", pod, err)
	}
	tests := map[string]string{
		netconf.DefaultLSPName:      "node1_ctr1_eth0",
		"{podNamespace}_{podName}":  "prod_web-0",
		"{node}-{podName}-{ifname}": "node1-web-0-eth0",
		"fixed":                     "fixed",
	}
	for template, want := range tests {
		if got := lspName(template, "node1", "ctr1", "eth0", pod); got != want {
			t.Errorf("lspName(%q) = %q, want %q", template, got, want)
		}
	}
}

func TestZeroVFMACIsReplaced(t *testing.T) {
	for range 100 {
		mac := newLocalMAC()
		if isZeroMAC(mac) || mac[0]&0x01 != 0 || mac[0]&0x02 == 0 {
			t.Fatalf("newLocalMAC() = %s: want a non-zero, unicast, locally administered MAC", mac)
		}
	}
	if !isZeroMAC(nil) || !isZeroMAC(make([]byte, 6)) {
		t.Fatal("isZeroMAC misses a zero MAC")
	}
}
