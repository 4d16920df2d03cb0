# The two commands a newcomer needs: `make run` and `make test`.
GO            ?= go
BUILD         := .build
LOCAL_BOOTSTRAP := $(BUILD)/local/bootstrap
LDFLAGS       := -s -w
GO_BUILD      := CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "$(LDFLAGS)"

.PHONY: run test vet build build-local bench fuzz clean build-MonitorFunction

## run: the whole monitor on a local AWS stack (kumo) against simulated ProGet instances
run: build-local
	$(GO) run ./cmd/localrun -bootstrap $(LOCAL_BOOTSTRAP) -log $(BUILD)/run/monitor.log

## test: formatting, vet and every test, with the race detector
test: vet
	$(GO) test -race -count=1 ./...

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## fuzz: the parsers' fuzzers, FUZZTIME each (a crasher lands in testdata/fuzz and becomes a test)
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./internal/proget -run '^$$' -fuzz '^FuzzParseHealth$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/proget -run '^$$' -fuzz '^FuzzParseConnectors$$' -fuzztime $(FUZZTIME)

## bench: whole runs of the real bootstrap for fleets of 10, 100 and 1000 instances
bench: build-local
	$(GO) run ./cmd/bench -bootstrap $(LOCAL_BOOTSTRAP)

## build-local: the bootstrap binary for this machine, as make run uses it
build-local:
	$(GO_BUILD) -o $(LOCAL_BOOTSTRAP) ./functions/monitor

## build: the Lambda artifact (linux/arm64) into .build/lambda, as sam build does
build:
	$(MAKE) build-MonitorFunction ARTIFACTS_DIR=$(BUILD)/lambda

# sam build calls this target (BuildMethod: makefile) with ARTIFACTS_DIR set.
build-MonitorFunction:
	GOOS=linux GOARCH=arm64 $(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/monitor

clean:
	rm -rf $(BUILD) .aws-sam
