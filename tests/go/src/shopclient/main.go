// shopclient is the shop platform's own event-bus code (seed 004, "Publishing Events" and
// "Consuming Events": its Event struct, Publisher.Publish and Consumer.Subscribe, unchanged
// but for the package name) driven from the command line, so the broker tests can check
// that a schemactl service and the shop's Go services understand each other:
//
//	shopclient publish <amqp-url> <exchange> <routing-key> <tenant> <payload.json> <count>
//	shopclient consume <amqp-url> <queue> <count> <timeout-ms>
//
// Built in GOPATH mode over Debian's packages (GO111MODULE=off, GOPATH=<this dir>/../..:
// /usr/share/gocode). Prints one JSON line.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// --- the seed's code ---------------------------------------------------------------

type Event struct {
	ID            string         `json:"id"`
	Type          string         `json:"type"`
	Source        string         `json:"source"`
	Timestamp     time.Time      `json:"timestamp"`
	TenantID      string         `json:"tenant_id"`
	CorrelationID string         `json:"correlation_id,omitempty"`
	Data          interface{}    `json:"data"`
	Metadata      map[string]any `json:"metadata,omitempty"`
}

type Publisher struct {
	channel *amqp.Channel
	source  string
}

func (p *Publisher) Publish(exchange, routingKey string, data interface{}, tenantID string) error {
	event := Event{
		ID:        "evt_" + uuid.New().String(),
		Type:      routingKey,
		Source:    p.source,
		Timestamp: time.Now().UTC(),
		TenantID:  tenantID,
		Data:      data,
	}

	body, err := json.Marshal(event)
	if err != nil {
		return err
	}

	return p.channel.Publish(
		exchange,
		routingKey,
		false, // mandatory
		false, // immediate
		amqp.Publishing{
			ContentType:  "application/json",
			DeliveryMode: amqp.Persistent,
			Body:         body,
		},
	)
}

type Consumer struct {
	channel *amqp.Channel
}

type Handler func(event Event) error

func (c *Consumer) Subscribe(queue string, handler Handler) error {
	msgs, err := c.channel.Consume(
		queue,
		"",    // consumer tag
		false, // auto-ack
		false, // exclusive
		false, // no-local
		false, // no-wait
		nil,
	)
	if err != nil {
		return err
	}

	go func() {
		for msg := range msgs {
			var event Event
			if err := json.Unmarshal(msg.Body, &event); err != nil {
				msg.Nack(false, false) // Don't requeue malformed messages
				continue
			}

			if err := handler(event); err != nil {
				msg.Nack(false, true) // Requeue on failure
				continue
			}

			msg.Ack(false)
		}
	}()

	return nil
}

// --- the command line ----------------------------------------------------------------

func fail(format string, args ...any) {
	out, _ := json.Marshal(map[string]any{"error": fmt.Sprintf(format, args...)})
	fmt.Println(string(out))
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: shopclient publish|consume ...")
	}
	switch os.Args[1] {
	case "publish":
		publish(os.Args[2:])
	case "consume":
		consume(os.Args[2:])
	default:
		fail("unknown command %s", os.Args[1])
	}
}

// open connects to the broker and opens a channel, or fails.
func open(url string) (*amqp.Connection, *amqp.Channel) {
	conn, err := amqp.Dial(url)
	if err != nil {
		fail("%v", err)
	}
	channel, err := conn.Channel()
	if err != nil {
		fail("%v", err)
	}
	return conn, channel
}

func publish(args []string) {
	if len(args) != 6 {
		fail("publish <url> <exchange> <routing-key> <tenant> <payload.json> <count>")
	}
	raw, err := os.ReadFile(args[4])
	if err != nil {
		fail("%v", err)
	}
	var data interface{}
	if err := json.Unmarshal(raw, &data); err != nil {
		fail("%v", err)
	}
	count, _ := strconv.Atoi(args[5])
	conn, channel := open(args[0])
	defer conn.Close()
	// Confirms only so that the process does not exit before the broker has the messages;
	// Publish itself is the seed's.
	if err := channel.Confirm(false); err != nil {
		fail("%v", err)
	}
	confirms := channel.NotifyPublish(make(chan amqp.Confirmation, count))
	publisher := &Publisher{channel: channel, source: "oms-service"}
	for i := 0; i < count; i++ {
		if err := publisher.Publish(args[1], args[2], data, args[3]); err != nil {
			fail("%v", err)
		}
	}
	for i := 0; i < count; i++ {
		if c := <-confirms; !c.Ack {
			fail("message %d not confirmed", c.DeliveryTag)
		}
	}
	out, _ := json.Marshal(map[string]any{"published": count})
	fmt.Println(string(out))
}

func consume(args []string) {
	if len(args) != 4 {
		fail("consume <url> <queue> <count> <timeout-ms>")
	}
	count, _ := strconv.Atoi(args[2])
	timeout, _ := strconv.Atoi(args[3])
	conn, channel := open(args[0])
	defer conn.Close()
	var mu sync.Mutex
	events := []Event{}
	done := make(chan struct{})
	consumer := &Consumer{channel: channel}
	err := consumer.Subscribe(args[1], func(event Event) error {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, event)
		if len(events) == count {
			close(done)
		}
		return nil
	})
	if err != nil {
		fail("%v", err)
	}
	select {
	case <-done:
	case <-time.After(time.Duration(timeout) * time.Millisecond):
	}
	mu.Lock()
	defer mu.Unlock()
	out, _ := json.Marshal(map[string]any{"received": len(events), "events": events})
	fmt.Println(string(out))
}
