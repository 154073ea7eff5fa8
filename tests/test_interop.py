"""A grpc.aio (grpcio) client against our grpclib server: interop holds."""

from __future__ import annotations

import gc

import grpc
import pytest
from grpclib.health.v1 import health_pb2

from asyncwf.testing import LocalBackend
from asyncwf.v1 import jobs_pb2 as pb


def _unary(
    channel: grpc.aio.Channel, method: str, request_type: type, response_type: type
) -> grpc.aio.UnaryUnaryMultiCallable:
    return channel.unary_unary(
        method, request_serializer=request_type.SerializeToString, response_deserializer=response_type.FromString
    )


@pytest.mark.allow_blocking  # grpcio's own aio shutdown joins its poller thread (see the end)
async def test_grpcio_client_calls_health_and_job_rpcs() -> None:
    async with (
        LocalBackend(tokens={"tok": "grpcio"}) as backend,
        grpc.aio.insecure_channel(f"127.0.0.1:{backend.port}") as channel,
    ):
        if True:
            check = _unary(
                channel, "/grpc.health.v1.Health/Check", health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse
            )
            reply = await check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

            auth = (("authorization", "Bearer tok"),)
            create = _unary(channel, "/asyncwf.v1.JobService/CreateJob", pb.CreateJobRequest, pb.CreateJobResponse)
            created = await create(
                pb.CreateJobRequest(kind="asyncwf.echo", payload=b"interop", idempotency_key="k"),
                metadata=auth,
                timeout=5,
            )
            assert created.created and created.job.owner == "grpcio"

            watch = channel.unary_stream(
                "/asyncwf.v1.JobService/WatchJob",
                request_serializer=pb.WatchJobRequest.SerializeToString,
                response_deserializer=pb.JobEvent.FromString,
            )
            events = [e async for e in watch(pb.WatchJobRequest(id=created.job.id), metadata=auth, timeout=10)]
            assert events[-1].job.state == pb.JOB_STATE_SUCCEEDED
            assert events[-1].job.result.inline == b"interop"

            get = _unary(channel, "/asyncwf.v1.JobService/GetJob", pb.GetJobRequest, pb.Job)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await get(pb.GetJobRequest(id="missing"), metadata=auth, timeout=5)
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await get(pb.GetJobRequest(id=created.job.id), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await create(pb.CreateJobRequest(kind="no spaces allowed"), metadata=auth, timeout=5)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            # Garbage bytes instead of a protobuf message.
            raw = channel.unary_unary("/asyncwf.v1.JobService/GetJob")
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await raw(b"\xff\xff\xff", metadata=auth, timeout=5)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert (
                await check(health_pb2.HealthCheckRequest(), timeout=5)
            ).status == health_pb2.HealthCheckResponse.SERVING
    # grpcio shuts its aio machinery down when its last objects are collected, joining a thread on the loop:
    # do it here, not in whichever test the garbage collector happens to run next.
    del info
    gc.collect()
