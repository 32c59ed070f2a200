# The backlog row carries its event's environment, so the rollup job and usage queries read one
# environment's waiting events without looking up every waiting event.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_rollups"),
        ("flexprice_site", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="eventbacklog",
            name="environment",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="flexprice_site.environment",
            ),
        ),
        migrations.RunSQL(
            "UPDATE analytics_eventbacklog b SET environment_id = e.environment_id "
            "FROM analytics_event e WHERE e.id = b.event_id",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="eventbacklog",
            name="environment",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="flexprice_site.environment",
            ),
        ),
        migrations.AddIndex(
            model_name="eventbacklog",
            index=models.Index(fields=["environment", "event"], name="backlog_environment"),
        ),
    ]
