// shoptopology declares the shop platform's RabbitMQ topology the way its Go services do
// (seed 004): the exchanges of its "Exchanges" table; the queue options of its "Queue
// Options" section (durable, dead-lettered to `deadletter` with `<queue>.failed`, messages
// expiring after 24 hours) on every service queue; the bindings of its "Bindings" section
// (`notification.orders` with `order.*`, `search.products` with `product.#`) and of its
// "Service Subscriptions" table for the events the platform has; its dead-letter queue
// `deadletter.orders` bound with `order.*.failed`; and the analytics fanout exchange fed by
// the four event exchanges ("all events via fanout"). Every name gets a prefix, so that tests
// can run side by side (the tests delete what it declares):
//
//	shoptopology declare <amqp-url> <prefix>
//
// Built in GOPATH mode over Debian's packages (GO111MODULE=off, GOPATH=<this dir>/../..:
// /usr/share/gocode). Prints one JSON line.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	amqp "github.com/rabbitmq/amqp091-go"
)

type exchange struct{ name, kind string }

type binding struct{ queue, key, exchange string }

var exchanges = []exchange{
	{"orders", "topic"},
	{"products", "topic"},
	{"customers", "topic"},
	{"payments", "topic"},
	{"notifications", "topic"},
	{"analytics", "fanout"},
	{"deadletter", "direct"},
}

// The service queues, each declared with the platform's queue options.
var queues = []string{
	"notification.orders",
	"search.products",
	"order.processing",
	"crm.customers",
	"analytics.events",
	"telegram.notifications",
	"oms.payments",
}

var bindings = []binding{
	// Notification: order.*, customer.created, payment.*, and the notification triggers.
	{"notification.orders", "order.*", "orders"},
	{"notification.orders", "customer.created", "customers"},
	{"notification.orders", "payment.*", "payments"},
	{"notification.orders", "notification.email", "notifications"},
	{"notification.orders", "notification.push", "notifications"},
	{"notification.orders", "notification.sms", "notifications"},
	{"notification.orders", "payment.refund.completed", "payments"},
	// Search: all product events.
	{"search.products", "product.#", "products"},
	// Warehouse: order.confirmed and the stock events.
	{"order.processing", "order.confirmed", "orders"},
	{"order.processing", "product.stock.low", "products"},
	{"order.processing", "product.stock.out", "products"},
	{"order.processing", "product.stock.updated", "products"},
	// CRM: customer.* and the order and loyalty events it follows.
	{"crm.customers", "customer.*", "customers"},
	{"crm.customers", "customer.points.earned", "customers"},
	{"crm.customers", "customer.points.redeemed", "customers"},
	{"crm.customers", "customer.segment.changed", "customers"},
	{"crm.customers", "customer.tier.changed", "customers"},
	{"crm.customers", "order.delivered", "orders"},
	// Analytics: everything, through the fanout exchange.
	{"analytics.events", "", "analytics"},
	// Telegram bot.
	{"telegram.notifications", "notification.telegram", "notifications"},
	// OMS: completed payments.
	{"oms.payments", "payment.completed", "payments"},
}

func fail(format string, args ...any) {
	out, _ := json.Marshal(map[string]any{"error": fmt.Sprintf(format, args...)})
	fmt.Println(string(out))
	os.Exit(1)
}

func must(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func declare(channel *amqp.Channel, p string) {
	for _, e := range exchanges {
		must(channel.ExchangeDeclare(p+e.name, e.kind, true, false, false, false, nil))
	}
	for _, source := range []string{"orders", "products", "customers", "payments"} {
		must(channel.ExchangeBind(p+"analytics", "#", p+source, false, nil))
	}
	for _, q := range queues {
		_, err := channel.QueueDeclare(
			p+q,
			true,  // durable
			false, // auto-delete
			false, // exclusive
			false, // no-wait
			amqp.Table{
				"x-dead-letter-exchange":    p + "deadletter",
				"x-dead-letter-routing-key": q + ".failed",
				"x-message-ttl":             86400000, // 24 hours
			},
		)
		must(err)
	}
	for _, b := range bindings {
		must(channel.QueueBind(p+b.queue, b.key, p+b.exchange, false, nil))
	}
	// Dead letter queue
	_, err := channel.QueueDeclare(p+"deadletter.orders", true, false, false, false, nil)
	must(err)
	must(channel.QueueBind(p+"deadletter.orders", "order.*.failed", p+"deadletter", false, nil))
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: shoptopology declare <amqp-url> <prefix>")
	}
	conn, err := amqp.Dial(os.Args[2])
	must(err)
	defer conn.Close()
	channel, err := conn.Channel()
	must(err)
	if os.Args[1] != "declare" {
		fail("unknown command %s", os.Args[1])
	}
	declare(channel, os.Args[3])
	out, _ := json.Marshal(map[string]any{"ok": os.Args[1]})
	fmt.Println(string(out))
}
