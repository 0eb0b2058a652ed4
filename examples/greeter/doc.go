// Command greeter runs the greeter.v1.Greeter example service, registered in
// the registry the MICRO_* environment names. It is configured by environment
// only:
//
//	MICRO_REGISTRY, MICRO_REGISTRY_ADDRESS    where to register (default nats on 127.0.0.1:4222)
//	MICRO_BROKER                              the broker of events: nats (default) or rabbitmq
//	MICRO_BROKER_ADDRESS                      its server (default: the registry's NATS; amqp://user:pass@host:5672/vhost for rabbitmq)
//	MICRO_SERVER_ADDRESS                      where to listen (default :0)
//	MICRO_SERVER_ADVERTISE                    the address to register instead of the computed one
//	MICRO_SERVICE_VERSION, MICRO_SERVICE_METADATA (k=v,k=v)
//	MICRO_REGISTER_TTL, MICRO_REGISTER_INTERVAL
//	MICRO_SERVER_REFLECTION=false             serve no gRPC reflection (callers need --proto)
//	MICRO_LOG_LEVEL                           debug, info (default), warn, error; debug logs each reflection stream
//
// It subscribes to the topic greeter.greeted, shared by its instances, and
// logs each greeterpb.Greeted event it handles, JSON or protobuf:
//
//	nats pub -H Content-Type:application/json greeter.greeted '{"name":"Ada"}'
//	... level=INFO msg="handled event" topic=greeter.greeted name=Ada
//
// It logs to stderr and stops cleanly on SIGINT or SIGTERM: it deregisters,
// then drains in-flight calls and events.
package main
