"""boto3's CloudWatch client (AWS JSON 1.0) against a running Millrace:
GetMetricData and ListMetrics agree with the records put, and validation
errors are the modeled exceptions.

    cloudwatch_test.py ENDPOINT STREAM START END RECORDS
"""

import datetime
import sys

import boto3


def main(endpoint, stream, start, end, records):
    cw = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1")
    start = datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
    end = datetime.datetime.fromisoformat(end.replace("Z", "+00:00"))
    dims = [{"Name": "StreamName", "Value": stream}]

    out = cw.get_metric_data(
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
        MetricDataQueries=[
            {
                "Id": "incoming",
                "Label": "in",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/Kinesis", "MetricName": "IncomingRecords", "Dimensions": dims},
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
            {
                "Id": "latency",
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/Kinesis", "MetricName": "PutRecord.Latency", "Dimensions": dims},
                    "Period": 300,
                    "Stat": "p99",
                },
            },
        ],
    )
    res = {r["Id"]: r for r in out["MetricDataResults"]}
    got = sum(res["incoming"]["Values"])
    assert got == records, f"GetMetricData IncomingRecords Sum {got}, want {records}"
    assert res["incoming"]["Label"] == "in" and res["incoming"]["StatusCode"] == "Complete", res["incoming"]
    assert res["incoming"]["Timestamps"] == sorted(res["incoming"]["Timestamps"]), "not ascending"
    assert res["latency"]["Values"] and all(v > 0 for v in res["latency"]["Values"]), res["latency"]

    names = set()
    for page in cw.get_paginator("list_metrics").paginate(Namespace="AWS/Kinesis", Dimensions=[{"Name": "StreamName", "Value": stream}]):
        for m in page["Metrics"]:
            names.add(m["MetricName"])
    for want in ("IncomingRecords", "IncomingBytes", "PutRecord.Success", "PutRecords.Success", "PutRecord.Latency"):
        assert want in names, f"ListMetrics lacks {want}: {sorted(names)}"

    try:
        cw.get_metric_statistics(
            Namespace="AWS/Kinesis", MetricName="IncomingRecords", Dimensions=dims,
            StartTime=start, EndTime=end, Period=60, Statistics=["Sum"], ExtendedStatistics=["p99"],
        )
        raise AssertionError("Statistics and ExtendedStatistics together were accepted")
    except cw.exceptions.InvalidParameterCombinationException as e:
        assert e.response["Error"]["Code"] == "InvalidParameterCombination", e.response
    try:
        cw.get_metric_data(
            StartTime=start, EndTime=end,
            MetricDataQueries=[{"Id": "e1", "Expression": "SUM(METRICS())"}],
        )
        raise AssertionError("a metric math expression was accepted")
    except cw.exceptions.InvalidParameterValueException as e:
        assert "not supported" in e.response["Error"]["Message"], e.response
    print(f"  -- cloudwatch (boto3): {records} records in GetMetricData, {len(names)} metrics listed, errors modeled")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
