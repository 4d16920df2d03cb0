# The two commands a newcomer needs: `make run` and `make test`.
GO            ?= go
BUILD         := .build
LOCAL_BOOTSTRAP := $(BUILD)/local/bootstrap
LDFLAGS       := -s -w
GO_BUILD      := CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags "$(LDFLAGS)"

.PHONY: run test vet lint tools build build-local bench fuzz clean build-MonitorFunction

## run: the whole monitor on a local AWS stack against simulated ProGet instances
## (AWS=kumo, the default, or AWS=moto: the strict emulator; CloudWatch is kumo's in both)
AWS ?= kumo
run: build-local
	$(GO) run ./cmd/localrun -aws $(AWS) -bootstrap $(LOCAL_BOOTSTRAP) -log $(BUILD)/run/monitor.log

## test: formatting, vet and every test, with the race detector
test: tools vet
	$(GO) test -race -count=1 ./...

## tools: moto_server (the strict AWS emulator the tests use) and cfn-lint, installed with pip if missing
PIP_TOOLS := 'moto[server]>=5.2,<6' 'cfn-lint>=1.51,<2'
tools:
	@if ! command -v moto_server >/dev/null 2>&1 || ! command -v cfn-lint >/dev/null 2>&1; then \
		echo "moto_server or cfn-lint is missing: python3 -m pip install $(PIP_TOOLS)"; \
		python3 -m pip install $(PIP_TOOLS) || { \
			echo "could not install them: install moto[server] and cfn-lint yourself (python3 -m pip install $(PIP_TOOLS), in a virtualenv or with pipx if this Python refuses) so that moto_server and cfn-lint are on PATH" >&2; exit 1; }; \
		command -v moto_server >/dev/null 2>&1 && command -v cfn-lint >/dev/null 2>&1 || { \
			echo "installed, but moto_server or cfn-lint is still not on PATH: add pip's script directory (python3 -m site --user-base, then bin) to PATH" >&2; exit 1; }; \
	fi

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## lint: template.yaml through cfn-lint, as is and for every combination of the network parameters (make test does it too)
lint:
	$(GO) test -count=1 -run '^TestCfnLint$$' ./functions/monitor

## fuzz: the parsers' fuzzers, FUZZTIME each (a crasher lands in testdata/fuzz and becomes a test)
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./internal/proget -run '^$$' -fuzz '^FuzzParseHealth$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/proget -run '^$$' -fuzz '^FuzzParseConnectors$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/proget -run '^$$' -fuzz '^FuzzJSONSyntax$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/proget -run '^$$' -fuzz '^FuzzJudgeBody$$' -fuzztime $(FUZZTIME)

## bench: whole runs of the real bootstrap for fleets of 10, 100 and 1000 instances
## (BENCH_FLAGS=-https over https; -fleets 10,100 for fewer)
bench: build-local
	$(GO) run ./cmd/bench -bootstrap $(LOCAL_BOOTSTRAP) $(BENCH_FLAGS)

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
