#!/usr/bin/python3
"""A gRPC client written elsewhere, that knows the coordinator only by its address.

Debian's python3-grpcio and python3-protobuf, and stubs for grpc's reflection.proto made by Debian's
protoc (protobuf-compiler). Every smtp-probe type comes from server reflection: the client lists the
services, fetches each service's file with its dependencies into a descriptor pool, builds the
message classes from the pool, then calls every method of smtpprobe.v1.ProbeService and
grpc.health.v1.Health, and decodes the google.rpc error details of an INVALID_ARGUMENT and a
NOT_FOUND the same way. It checks as it goes, prints a JSON summary on stdout and exits 0; on the
first failed check it prints why on stderr and exits 1.

    /usr/bin/python3 test/clients/reflection_client.py --target 127.0.0.1:50051 --smtp-port 2525 \\
        --reflection-protos proto/grpc/reflection

--reflection-protos: a folder holding grpc's v1/reflection.proto and v1alpha/reflection.proto.
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

TIMEOUT_S = 30
PROBE_SERVICE = "smtpprobe.v1.ProbeService"
EXPECTED_SERVICES = {
    PROBE_SERVICE,
    "smtpprobe.v1.BatchService",
    "smtpprobe.v1.MonitorService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
}
STATUS_DETAILS_KEY = "grpc-status-details-bin"
UNKNOWN_PROBE_ID = "00000000-0000-4000-8000-000000000000"  # well formed, never issued


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def reflection_stubs(proto_dir, work_dir):
    """reflection_pb2 for v1 and v1alpha, made by protoc from grpc's reflection.proto.

    Compiled under v1/ and v1alpha/ rather than grpc/reflection/..., so that the generated modules
    cannot shadow the grpc package they are loaded beside.
    """
    stubs = {}
    for version in ("v1", "v1alpha"):
        os.makedirs(os.path.join(work_dir, version), exist_ok=True)
        shutil.copy(os.path.join(proto_dir, version, "reflection.proto"), os.path.join(work_dir, version))
        subprocess.run(["protoc", f"-I{work_dir}", f"--python_out={work_dir}", f"{version}/reflection.proto"], check=True)
        path = os.path.join(work_dir, version, "reflection_pb2.py")
        spec = importlib.util.spec_from_file_location(f"reflection_{version}_pb2", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        stubs[version] = module
    return stubs


class Reflection:
    """Asks a batch of questions on one reflection stream; the answers come in the same order."""

    def __init__(self, channel, stubs, version):
        self.pb = stubs[version]
        self.call = channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=self.pb.ServerReflectionRequest.SerializeToString,
            response_deserializer=self.pb.ServerReflectionResponse.FromString,
        )

    def ask(self, **question):
        [answer] = self.ask_all([question])
        return answer

    def ask_all(self, questions):
        requests = [self.pb.ServerReflectionRequest(**q) for q in questions]
        answers = list(self.call(iter(requests), timeout=TIMEOUT_S))
        check(len(answers) == len(requests), f"reflection: {len(requests)} questions, {len(answers)} answers")
        return answers

    def services(self):
        answer = self.ask(list_services="*")
        check(answer.HasField("list_services_response"), f"list_services: {answer}")
        return sorted(s.name for s in answer.list_services_response.service)

    def files(self, **question):
        """The FileDescriptorProtos of one answer, by name, each as its serialized bytes too."""
        answer = self.ask(**question)
        check(answer.HasField("file_descriptor_response"), f"{question}: no files, {answer.error_response}")
        files = {}
        for raw in answer.file_descriptor_response.file_descriptor_proto:
            proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
            files[proto.name] = (proto, raw)
        # The answer must be enough to build the file: every declared import comes with it.
        for name, (proto, _) in files.items():
            for dependency in proto.dependency:
                check(dependency in files, f"{question}: {name} imports {dependency}, which the answer does not hold")
        return files

    def not_found(self, **question):
        answer = self.ask(**question)
        check(answer.HasField("error_response"), f"{question}: expected an error, got {answer}")
        check(answer.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0], f"{question}: {answer.error_response}")
        return answer.error_response.error_message


class Pool:
    """A descriptor pool filled from reflection answers only, and message classes from it."""

    def __init__(self):
        self.pool = descriptor_pool.DescriptorPool()
        self.added = set()
        self.known = {}

    def add(self, files):
        self.known.update(files)
        for name in files:
            self._add(name)

    def _add(self, name):
        if name in self.added:
            return
        proto, raw = self.known[name]
        for dependency in proto.dependency:
            self._add(dependency)
        self.pool.AddSerializedFile(raw)
        self.added.add(name)

    def message_class(self, full_name):
        descriptor = self.pool.FindMessageTypeByName(full_name)
        get_class = getattr(message_factory, "GetMessageClass", None)  # protobuf >= 4.22
        return get_class(descriptor) if get_class else message_factory.MessageFactory(self.pool).GetPrototype(descriptor)


def enum_name(message, field):
    return message.DESCRIPTOR.fields_by_name[field].enum_type.values_by_number[getattr(message, field)].name


def field_exists(message_descriptor, path):
    """Whether a field path such as `options.timeouts.deadline_ms` or `tls_modes[587]` names fields."""
    descriptor = message_descriptor
    segments = path.split(".")
    for i, segment in enumerate(segments):
        name = segment.split("[", 1)[0]
        field = descriptor.fields_by_name.get(name)
        if field is None:
            return False
        if i < len(segments) - 1:
            if field.message_type is None:
                return False
            descriptor = field.message_type
    return True


def status_details(error, pool, status_class):
    """The google.rpc.Status of a failed call, its details unpacked with classes from the pool."""
    raw = dict(error.trailing_metadata() or ()).get(STATUS_DETAILS_KEY)
    if raw is None:
        return None, []
    status = status_class.FromString(raw)
    check(status.code == error.code().value[0], f"status details say code {status.code}, the call {error.code()}")
    details = []
    for any_detail in status.details:
        type_name = any_detail.type_url.rsplit("/", 1)[-1]
        detail = pool.message_class(type_name).FromString(any_detail.value)
        details.append((type_name, detail))
    return status, details


def run(args):
    summary = {}
    # Straight to the address given, whatever proxy the environment names.
    channel = grpc.insecure_channel(args.target, options=[("grpc.enable_http_proxy", 0)])
    grpc.channel_ready_future(channel).result(timeout=TIMEOUT_S)
    with tempfile.TemporaryDirectory() as work_dir:
        stubs = reflection_stubs(args.reflection_protos, work_dir)
    v1 = Reflection(channel, stubs, "v1")
    v1alpha = Reflection(channel, stubs, "v1alpha")

    # What the server offers, through both versions of reflection.
    services = v1.services()
    check(set(services) == EXPECTED_SERVICES, f"services listed: {services}")
    check(v1alpha.services() == services, "v1alpha lists other services than v1")
    summary["services"] = services

    # Every service's file and its imports, into one pool.
    pool = Pool()
    for service in services:
        files = v1.files(file_containing_symbol=service)
        pool.add(files)
        check(pool.pool.FindServiceByName(service) is not None, f"{service} is not in the file served for it")
    pool.add(v1alpha.files(file_containing_symbol=f"{PROBE_SERVICE}.Probe"))
    # The error details are described too, under their real file names.
    pool.add(v1.files(file_containing_symbol="google.rpc.BadRequest"))
    pool.add(v1.files(file_by_filename="google/rpc/status.proto"))
    timestamp = v1.files(file_by_filename="google/protobuf/timestamp.proto")
    check(list(timestamp) == ["google/protobuf/timestamp.proto"], f"google/protobuf/timestamp.proto: {list(timestamp)}")
    summary["files"] = sorted(pool.added)

    # The fields as the .proto writes them.
    probe_request = pool.pool.FindMessageTypeByName("smtpprobe.v1.ProbeRequest")
    for name in ("host", "ports", "regions", "options", "tls_modes", "idempotency_key", "port_roles"):
        check(name in probe_request.fields_by_name, f"ProbeRequest has no field {name}: {list(probe_request.fields_by_name)}")
    check(probe_request.fields_by_name["tls_modes"].message_type.name == "TlsModesEntry", "tls_modes: map entry name")
    check(probe_request.fields_by_name["tls_modes"].message_type.GetOptions().map_entry, "tls_modes: not a map")
    check(not probe_request.GetOptions().map_entry, "ProbeRequest is marked as a map entry")
    summary["probe_request_fields"] = [f.name for f in probe_request.fields]

    service = pool.pool.FindServiceByName(PROBE_SERVICE)
    summary["methods"] = [m.name for m in service.methods]

    def unary(full_service, method_name):
        method = pool.pool.FindServiceByName(full_service).methods_by_name[method_name]
        return channel.unary_unary(
            f"/{full_service}/{method_name}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=pool.message_class(method.output_type.full_name).FromString,
        ), pool.message_class(method.input_type.full_name)

    # Health.
    health_check, HealthCheckRequest = unary("grpc.health.v1.Health", "Check")
    health = health_check(HealthCheckRequest(service=PROBE_SERVICE), timeout=TIMEOUT_S)
    check(enum_name(health, "status") == "SERVING", f"health of {PROBE_SERVICE}: {health}")
    summary["health"] = enum_name(health, "status")

    # ListRegions.
    list_regions, ListRegionsRequest = unary(PROBE_SERVICE, "ListRegions")
    regions = list_regions(ListRegionsRequest(), timeout=TIMEOUT_S)
    summary["regions"] = [r.name for r in regions.regions]
    check("local" in summary["regions"], f"regions: {summary['regions']}")

    # Probe, from the JSON a person would type (the same as grpcurl's -d).
    probe, ProbeRequest = unary(PROBE_SERVICE, "Probe")
    request = json_format.ParseDict({"host": "127.0.0.1", "ports": [args.smtp_port]}, ProbeRequest())
    report = probe(request, timeout=TIMEOUT_S)
    check(report.probe_id != "", "Probe: no probe_id")
    check(len(report.tasks) == 1 and enum_name(report.tasks[0], "status") == "TASK_STATUS_DONE", f"Probe: {report.tasks}")
    outcome = report.tasks[0].result.handshakes[0]
    summary["probe"] = {
        "probe_id": report.probe_id,
        "task": enum_name(report.tasks[0], "status"),
        "outcome": enum_name(outcome, "outcome"),
        "verdicts": [enum_name(v, "kind") for v in report.comparison.verdicts],
        "json_keys": sorted(json_format.MessageToDict(report, preserving_proto_field_name=True)),
    }

    # StreamProbe: accepted first, the report last.
    stream_method = service.methods_by_name["StreamProbe"]
    stream_probe = channel.unary_stream(
        f"/{PROBE_SERVICE}/StreamProbe",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=pool.message_class(stream_method.output_type.full_name).FromString,
    )
    events = [event.WhichOneof("event") for event in stream_probe(request, timeout=TIMEOUT_S)]
    check(events[0] == "accepted" and events[-1] == "report" and "task" in events, f"StreamProbe events: {events}")
    summary["stream_events"] = sorted(set(events))

    # GetProbe of the probe just run.
    get_probe, GetProbeRequest = unary(PROBE_SERVICE, "GetProbe")
    stored = get_probe(GetProbeRequest(probe_id=report.probe_id), timeout=TIMEOUT_S)
    check(stored.probe_id == report.probe_id, f"GetProbe: {stored.probe_id} != {report.probe_id}")

    status_class = pool.message_class("google.rpc.Status")

    # INVALID_ARGUMENT: every violation names a field path of the reflected ProbeRequest.
    bad = json_format.ParseDict(
        {"host": "", "ports": [0], "tls_modes": {"587": "TLS_MODE_REQUIRE"}, "options": {"timeouts": {"deadline_ms": 99999999}}},
        ProbeRequest(),
    )
    try:
        probe(bad, timeout=TIMEOUT_S)
        raise CheckFailed("Probe of a bad request succeeded")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.INVALID_ARGUMENT, f"bad request: {error.code()} {error.details()}")
        status, details = status_details(error, pool, status_class)
        check(status is not None, "INVALID_ARGUMENT without status details")
        violations = [v for name, d in details if name == "google.rpc.BadRequest" for v in d.field_violations]
        check(violations, f"INVALID_ARGUMENT without google.rpc.BadRequest: {[name for name, _ in details]}")
        for violation in violations:
            check(field_exists(probe_request, violation.field), f"violation of {violation.field!r}: no such field in ProbeRequest")
        summary["invalid_argument"] = {"detail_types": [name for name, _ in details], "fields": [v.field for v in violations]}

    # NOT_FOUND from the service, and from reflection.
    try:
        get_probe(GetProbeRequest(probe_id=UNKNOWN_PROBE_ID), timeout=TIMEOUT_S)
        raise CheckFailed("GetProbe of an unknown id succeeded")
    except grpc.RpcError as error:
        check(error.code() == grpc.StatusCode.NOT_FOUND, f"GetProbe unknown: {error.code()} {error.details()}")
        check(UNKNOWN_PROBE_ID in error.details(), f"NOT_FOUND does not name the probe: {error.details()}")
        status, details = status_details(error, pool, status_class)
        resources = [d for name, d in details if name == "google.rpc.ResourceInfo"]
        check(resources and resources[0].resource_name == UNKNOWN_PROBE_ID, f"NOT_FOUND without google.rpc.ResourceInfo naming the probe: {details}")
        summary["not_found"] = {"message": error.details(), "detail_types": [name for name, _ in details]}
    symbol_message = v1.not_found(file_containing_symbol="smtpprobe.v1.NoSuchMessage")
    check("smtpprobe.v1.NoSuchMessage" in symbol_message, f"reflection NOT_FOUND does not name the symbol: {symbol_message}")
    file_message = v1alpha.not_found(file_by_filename="smtpprobe/v1/no_such_file.proto")
    check("smtpprobe/v1/no_such_file.proto" in file_message, f"reflection NOT_FOUND does not name the file: {file_message}")
    summary["reflection_not_found"] = [symbol_message, file_message]

    channel.close()
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of the coordinator's gRPC API")
    parser.add_argument("--smtp-port", required=True, type=int, help="an SMTP server's port on 127.0.0.1 the coordinator may probe")
    parser.add_argument("--reflection-protos", required=True, help="folder of v1/reflection.proto and v1alpha/reflection.proto")
    args = parser.parse_args()
    try:
        summary = run(args)
    except (CheckFailed, grpc.RpcError) as error:
        print(f"reflection client: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
