"""GET /file_bucket through the SDK's generic ci_get_bucket (cos-ci.md §2.7): file
processing is on for every bucket by default, so a freshly created bucket is listed."""

from cosutil import SDK_BUCKET, SDK_REGION


def test_file_buckets_are_listed_by_region_and_name(client, bucket):
    resp = client.ci_get_bucket(Regions=SDK_REGION, BucketNames=SDK_BUCKET, Path="/file_bucket")
    assert resp["TotalCount"] == "1"
    entry = resp["FileBucketList"]
    entry = entry[0] if isinstance(entry, list) else entry
    assert (entry["BucketId"], entry["Name"], entry["Region"]) == (SDK_BUCKET, SDK_BUCKET, SDK_REGION)
    none = client.ci_get_bucket(Regions="ap-nowhere", Path="/file_bucket")
    assert none["TotalCount"] == "0"
