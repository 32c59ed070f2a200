from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """The explorer's newest-first index leads with the tenant (its default page shows every
    environment of the tenant, which an index leading with the environment can't serve).
    Built concurrently: on a large events table ingestion keeps running meanwhile."""

    atomic = False

    dependencies = [
        ("analytics", "0007_rollup_unique_values"),
        ("flexprice_site", "0001_initial"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="event",
            index=models.Index(fields=["tenant", "-timestamp", "-id"], name="event_tenant_newest"),
        ),
        RemoveIndexConcurrently(model_name="event", name="event_newest"),
    ]
