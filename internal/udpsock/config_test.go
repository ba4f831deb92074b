package udpsock

import (
	"strings"
	"testing"

	"github.com/flowengine/flowengine/dsl"
)

func TestDecode(t *testing.T) {
	spec := &dsl.Spec{Attrs: Attrs(":2055")}
	tests := []struct {
		name, hcl string
		want      Config
		err       string
	}{
		{name: "defaults", want: Config{Listen: ":2055", Sockets: 2, ReceiveBuffer: 8 << 20}},
		{name: "set", hcl: "listen = \"127.0.0.1:9995\"\nsockets = 4\nreceive_buffer = \"1MiB\"",
			want: Config{Listen: "127.0.0.1:9995", Sockets: 4, ReceiveBuffer: 1 << 20}},
		{name: "no port", hcl: `listen = "2055"`, err: "is not host:port"},
		{name: "bad port", hcl: `listen = ":http"`, err: "is not a port number"},
		{name: "no sockets", hcl: `sockets = 0`, err: "between 1 and 256"},
		{name: "too many sockets", hcl: `sockets = 257`, err: "between 1 and 256"},
		{name: "buffer too large", hcl: `receive_buffer = "4GiB"`, err: "between 0 (system default) and 2GiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := dsl.DecodeString(tt.hcl, spec)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			got, diags := Decode(cfg)
			if tt.err != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.err) || diags[0].Subject == nil {
					t.Fatalf("Decode diagnostics %v, want %q with a range", diags, tt.err)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			got.ListenRange = tt.want.ListenRange
			if got != tt.want {
				t.Errorf("Decode = %+v, want %+v", got, tt.want)
			}
		})
	}
}
