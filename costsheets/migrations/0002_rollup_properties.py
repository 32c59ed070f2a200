# Meters name the properties their hourly rollups keep, so analytics filtered or grouped by
# them are answered from rollups. The column also gets a database default of an empty array,
# so that processes of the previous release, which do not know it, keep inserting meters
# while a deploy rolls out.

import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("costsheets", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="meter",
            name="rollup_properties",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=64),
                blank=True,
                default=list,
                help_text="Properties kept in the hourly rollups, so that analytics filtered or "
                "grouped by them skip raw events, e.g. “model, region”. At most 3, each with few "
                "values (each multiplies the rollup rows by its number of values). Changing the "
                "list rebuilds the meter's rollups in the background; until then its analytics "
                "read raw events.",
                size=None,
                verbose_name="properties kept in rollups",
            ),
        ),
        migrations.RunSQL(
            "ALTER TABLE costsheets_meter ALTER COLUMN rollup_properties SET DEFAULT '{}'",
            "ALTER TABLE costsheets_meter ALTER COLUMN rollup_properties DROP DEFAULT",
        ),
    ]
