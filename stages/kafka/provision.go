package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	kafka "github.com/segmentio/kafka-go"

	"github.com/flowengine/flowengine/engine"
)

// topicSpec is the topic a sink wants.
type topicSpec struct {
	name        string
	partitions  int
	replication int
	config      map[string]string
}

// topicOps are the operations that bring the topic to its spec.
type topicOps struct {
	create        bool
	addPartitions int // new total count, 0 for none
	setConfig     map[string]string
}

// planCache remembers the operations behind the plans a sink returned, for
// Apply.
type planCache struct {
	mu  sync.Mutex
	ops map[*engine.Plan]topicOps
}

func (c *planCache) put(p *engine.Plan, ops topicOps) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ops == nil {
		c.ops = map[*engine.Plan]topicOps{}
	}
	c.ops[p] = ops
}

func (c *planCache) take(p *engine.Plan) (topicOps, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops, ok := c.ops[p]
	delete(c.ops, p)
	return ops, ok
}

// ErrShrink is returned by Plan when the pipeline asks for fewer partitions
// than the topic has: Kafka cannot remove partitions.
var ErrShrink = engine.Permanent(errors.New("kafka partitions cannot be removed"))

// Plan compares the topic with the pipeline: missing topic, missing
// partitions, configuration drift. It changes nothing.
func (s *Sink) Plan(ctx context.Context) (*engine.Plan, error) {
	p := &engine.Plan{Stage: s.id}
	if !s.provis {
		return p, nil
	}
	ops, changes, err := s.diff(ctx)
	if err != nil {
		return nil, err
	}
	p.Changes = changes
	s.plans.put(p, ops)
	return p, nil
}

// Apply makes the changes of a plan Plan returned.
func (s *Sink) Apply(ctx context.Context, plan *engine.Plan) error {
	if !s.provis || plan == nil || len(plan.Changes) == 0 {
		return nil
	}
	ops, ok := s.plans.take(plan)
	if !ok {
		var err error
		if ops, _, err = s.diff(ctx); err != nil {
			return err
		}
	}
	cl, err := s.conn.client()
	if err != nil {
		return err
	}
	t := s.want
	if ops.create {
		req := &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: t.name, NumPartitions: t.partitions, ReplicationFactor: t.replication}}}
		for _, k := range sortedKeys(t.config) {
			req.Topics[0].ConfigEntries = append(req.Topics[0].ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: t.config[k]})
		}
		resp, err := cl.CreateTopics(ctx, req)
		if err != nil {
			return fmt.Errorf("create kafka topic %s: %w", t.name, err)
		}
		if err := resp.Errors[t.name]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create kafka topic %s: %w", t.name, err)
		}
		s.log.Info("kafka topic created", "topic", t.name, "partitions", t.partitions, "replication_factor", t.replication)
		return nil
	}
	if ops.addPartitions > 0 {
		resp, err := cl.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: t.name, Count: int32(ops.addPartitions)}}})
		if err != nil {
			return fmt.Errorf("add partitions to kafka topic %s: %w", t.name, err)
		}
		if err := resp.Errors[t.name]; err != nil {
			return fmt.Errorf("add partitions to kafka topic %s: %w", t.name, err)
		}
		s.log.Info("kafka partitions added", "topic", t.name, "partitions", ops.addPartitions)
	}
	if len(ops.setConfig) > 0 {
		res := kafka.IncrementalAlterConfigsRequestResource{ResourceType: kafka.ResourceTypeTopic, ResourceName: t.name}
		for _, k := range sortedKeys(ops.setConfig) {
			res.Configs = append(res.Configs, kafka.IncrementalAlterConfigsRequestConfig{Name: k, Value: ops.setConfig[k], ConfigOperation: kafka.ConfigOperationSet})
		}
		resp, err := cl.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{res}})
		if err != nil {
			return fmt.Errorf("alter kafka topic %s configuration: %w", t.name, err)
		}
		for _, r := range resp.Resources {
			if r.Error != nil {
				return fmt.Errorf("alter kafka topic %s configuration: %w", t.name, r.Error)
			}
		}
		s.log.Info("kafka topic configuration updated", "topic", t.name, "keys", sortedKeys(ops.setConfig))
	}
	return nil
}

// diff reads the topic and returns what to do and how to show it.
func (s *Sink) diff(ctx context.Context) (topicOps, []engine.Change, error) {
	t := s.want
	resource := "kafka topic " + t.name
	var ops topicOps
	topic, err := s.conn.check(ctx, t.name)
	if err != nil {
		return ops, nil, err
	}
	if topic == nil || errors.Is(topic.Error, kafka.UnknownTopicOrPartition) {
		ops.create = true
		c := engine.Change{Action: engine.ActionCreate,
			Resource: fmt.Sprintf("%s (partitions=%d, replication=%d)", resource, t.partitions, t.replication)}
		for _, k := range sortedKeys(t.config) {
			c.Details = append(c.Details, fmt.Sprintf("%s = %q", k, t.config[k]))
		}
		return ops, []engine.Change{c}, nil
	}
	if topic.Error != nil {
		if isAuthError(topic.Error) {
			return ops, nil, fmt.Errorf("%w: topic %s: %v", ErrAuth, t.name, topic.Error)
		}
		return ops, nil, fmt.Errorf("kafka topic %s: %w", t.name, topic.Error)
	}
	var changes []engine.Change
	have := len(topic.Partitions)
	switch {
	case have > t.partitions:
		return ops, nil, fmt.Errorf("%w: topic %s has %d partitions, the pipeline asks for %d; set partitions = %d or more",
			ErrShrink, t.name, have, t.partitions, have)
	case have < t.partitions:
		ops.addPartitions = t.partitions
		changes = append(changes, engine.Change{Action: engine.ActionUpdate,
			Resource: fmt.Sprintf("%s partitions %d -> %d", resource, have, t.partitions)})
	}
	if have > 0 && len(topic.Partitions[0].Replicas) > 0 && len(topic.Partitions[0].Replicas) != t.replication {
		s.log.Warn("kafka topic replication factor differs from the pipeline; flowengine does not reassign replicas",
			"topic", t.name, "have", len(topic.Partitions[0].Replicas), "want", t.replication)
	}
	if len(t.config) > 0 {
		current, err := s.describeConfig(ctx, sortedKeys(t.config))
		if err != nil {
			return ops, nil, err
		}
		var details []string
		for _, k := range sortedKeys(t.config) {
			if v, ok := current[k]; !ok || v != t.config[k] {
				if ops.setConfig == nil {
					ops.setConfig = map[string]string{}
				}
				ops.setConfig[k] = t.config[k]
				details = append(details, fmt.Sprintf("~ %s: %q -> %q", k, current[k], t.config[k]))
			}
		}
		if len(details) > 0 {
			changes = append(changes, engine.Change{Action: engine.ActionUpdate, Resource: resource + " config", Details: details})
		}
	}
	return ops, changes, nil
}

func (s *Sink) describeConfig(ctx context.Context, keys []string) (map[string]string, error) {
	cl, err := s.conn.client()
	if err != nil {
		return nil, err
	}
	resp, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: s.want.name, ConfigNames: keys}}})
	if err != nil {
		return nil, fmt.Errorf("describe kafka topic %s configuration: %w", s.want.name, err)
	}
	out := map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("describe kafka topic %s configuration: %w", s.want.name, r.Error)
		}
		for _, e := range r.ConfigEntries {
			out[e.ConfigName] = e.ConfigValue
		}
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
