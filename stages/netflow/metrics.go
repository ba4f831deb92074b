package netflow

import (
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowengine/flowengine/engine"
	"github.com/flowengine/flowengine/internal/exporterlabel"
)

// Metrics are the decoder's counters, per exporter. At most
// max_exporter_labels exporters have their own series; the others share the
// series labelled exporter="other".
type Metrics struct {
	packets          *prometheus.CounterVec
	flows            *prometheus.CounterVec
	bytes            *prometheus.CounterVec
	errors           *prometheus.CounterVec
	missingTemplates *prometheus.CounterVec
	heldDropped      *prometheus.CounterVec
	sequenceErrors   *prometheus.CounterVec
	untrackedSeq     *prometheus.CounterVec
	missingRate      *prometheus.CounterVec
	dropped          *prometheus.CounterVec
	samplingRate     *prometheus.GaugeVec
	templates        *prometheus.GaugeVec
	tooManyExporters prometheus.Counter
	evicted          prometheus.Counter
	exporters        prometheus.Gauge
	kernelDrops      prometheus.Counter
	receiveErrors    prometheus.Counter
	undelivered      prometheus.Counter

	// labels bounds the exporters with their own series.
	labels *exporterlabel.Set
	// other are the series the exporters without their own share.
	otherOnce sync.Once
	other     *exporterMetrics
}

// NewMetrics creates the decoder and receiver metrics and registers them with
// reg (when not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	ex := []string{"exporter"}
	f := engine.NewMetrics(reg)
	m := &Metrics{
		packets: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_netflow_packets_total",
			Help: "Packets received, by exporter and NetFlow version."}, []string{"exporter", "version"}),
		flows: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_netflow_flows_total",
			Help: "Flows decoded, by exporter."}, ex),
		bytes: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_netflow_bytes_total",
			Help: "UDP payload bytes received, by exporter."}, ex),
		errors: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_netflow_decode_errors_total",
			Help: "Packets or sets dropped as malformed, by exporter and reason."}, []string{"exporter", "reason"}),
		missingTemplates: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_netflow_missing_templates_total",
			Help: "Data sets received before their template (held until it comes), by exporter."}, ex),
		heldDropped: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_netflow_held_sets_dropped_total",
			Help: "Data sets held for a template and dropped, by exporter and reason: expired, overflow (pending_limit), pending_bytes, pending_bytes_total."}, []string{"exporter", "reason"}),
		sequenceErrors: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_netflow_sequence_errors_total",
			Help: "Sequence number gaps and resets, by exporter."}, ex),
		untrackedSeq: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_netflow_sequence_untracked_packets_total",
			Help: "Packets whose sequence number is not checked because their exporter has max_domains_per_exporter observation domains tracked already, by exporter."}, ex),
		missingRate: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_netflow_missing_sampling_rate_total",
			Help: "Flows whose sampling rate is unknown (kept with rate 1 or dropped, per missing_sampling_rate), by exporter."}, ex),
		dropped: f.CounterVec(prometheus.CounterOpts{Name: "flowengine_netflow_dropped_flows_total",
			Help: "Flows decoded and dropped, by exporter and reason."}, []string{"exporter", "reason"}),
		samplingRate: f.GaugeVec(prometheus.GaugeOpts{Name: "flowengine_netflow_sampling_rate",
			Help: "Last sampling rate an exporter announced in options data."}, ex),
		templates: f.GaugeVec(prometheus.GaugeOpts{Name: "flowengine_netflow_templates",
			Help: "Templates known, by exporter."}, ex),
		tooManyExporters: f.Counter(prometheus.CounterOpts{Name: "flowengine_netflow_exporter_limit_packets_total",
			Help: "Packets dropped because max_exporters exporters are known and none could be evicted."}),
		evicted: f.Counter(prometheus.CounterOpts{Name: "flowengine_netflow_exporters_evicted_total",
			Help: "Exporters forgotten (templates, rates, held data) to make room for new ones when max_exporters are known, idlest first."}),
		exporters: f.Gauge(prometheus.GaugeOpts{Name: "flowengine_netflow_exporters",
			Help: "Exporters known."}),
		kernelDrops: f.Counter(prometheus.CounterOpts{Name: "flowengine_netflow_kernel_drops_total",
			Help: "Packets the kernel dropped because the socket receive buffer was full (SO_RXQ_OVFL)."}),
		receiveErrors: f.Counter(prometheus.CounterOpts{Name: "flowengine_netflow_receive_errors_total",
			Help: "Errors reading from the UDP sockets."}),
		undelivered: f.Counter(prometheus.CounterOpts{Name: "flowengine_netflow_undelivered_flows_total",
			Help: "Flows decoded but not handed on because the pipeline was stopping."}),
		labels: exporterlabel.New(0),
	}
	return m
}

// exporterMetrics are one exporter's counters, resolved once.
type exporterMetrics struct {
	m                  *Metrics
	label              string
	packets            [3]prometheus.Counter // v5, v9, IPFIX
	flows              prometheus.Counter
	bytes              prometheus.Counter
	missingTemplates   prometheus.Counter
	sequenceErrors     prometheus.Counter
	untrackedSequences prometheus.Counter
	missingRate        prometheus.Counter
	droppedMissingRate prometheus.Counter
	samplingRate       prometheus.Gauge
	templates          prometheus.Gauge
}

// exporter returns the series of addr: its own while fewer than
// max_exporter_labels exporters have theirs, exporter="other" beyond.
func (m *Metrics) exporter(addr netip.Addr) *exporterMetrics {
	l := m.labels.Label(addr)
	if l == exporterlabel.Other {
		m.otherOnce.Do(func() { m.other = m.series(l) })
		return m.other
	}
	return m.series(l)
}

func (m *Metrics) series(l string) *exporterMetrics {
	return &exporterMetrics{
		m:     m,
		label: l,
		packets: [3]prometheus.Counter{m.packets.WithLabelValues(l, "5"), m.packets.WithLabelValues(l, "9"),
			m.packets.WithLabelValues(l, "10")},
		flows:              m.flows.WithLabelValues(l),
		bytes:              m.bytes.WithLabelValues(l),
		missingTemplates:   m.missingTemplates.WithLabelValues(l),
		sequenceErrors:     m.sequenceErrors.WithLabelValues(l),
		untrackedSequences: m.untrackedSeq.WithLabelValues(l),
		missingRate:        m.missingRate.WithLabelValues(l),
		droppedMissingRate: m.dropped.WithLabelValues(l, "missing_sampling_rate"),
		samplingRate:       m.samplingRate.WithLabelValues(l),
		templates:          m.templates.WithLabelValues(l),
	}
}

// forget deletes the series of an exporter that left the table, when it had
// its own, freeing its label for another exporter.
func (m *Metrics) forget(addr netip.Addr) {
	l := m.labels.Release(addr)
	if l == "" {
		return
	}
	// Exact deletes: a partial match walks every series.
	for _, v := range []*prometheus.CounterVec{m.flows, m.bytes, m.missingTemplates, m.sequenceErrors, m.untrackedSeq, m.missingRate} {
		v.DeleteLabelValues(l)
	}
	m.samplingRate.DeleteLabelValues(l)
	m.templates.DeleteLabelValues(l)
	for _, v := range []string{"5", "9", "10"} {
		m.packets.DeleteLabelValues(l, v)
	}
	for _, r := range errReasons {
		m.errors.DeleteLabelValues(l, r)
	}
	for _, r := range heldDropReasons {
		m.heldDropped.DeleteLabelValues(l, r)
	}
	m.dropped.DeleteLabelValues(l, "missing_sampling_rate")
}

// heldDropReasons label the held data sets dropped.
var heldDropReasons = []string{"expired", "overflow", "pending_bytes", "pending_bytes_total"}

func (c *exporterMetrics) errors(reason string) prometheus.Counter {
	return c.m.errors.WithLabelValues(c.label, reason)
}

func (c *exporterMetrics) heldDropped(reason string) prometheus.Counter {
	return c.m.heldDropped.WithLabelValues(c.label, reason)
}
