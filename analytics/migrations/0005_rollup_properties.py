# Rollup rows also carry the canonical values of their meter's rollup_properties (part of the
# unique key). Existing rows get an empty array: no meter keeps properties yet, and the meter
# fingerprint only changes for meters that set some, so no rollup is rebuilt by this
# migration. The database default lets a rollup job of the previous release keep writing
# while a deploy rolls out.

import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0004_reports"),
        ("costsheets", "0002_rollup_properties"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="usagerollup",
            name="rollup_unique_key",
        ),
        migrations.AddField(
            model_name="usagerollup",
            name="property_values",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.TextField(), blank=True, default=list, size=None
            ),
        ),
        migrations.RunSQL(
            "ALTER TABLE analytics_usagerollup ALTER COLUMN property_values SET DEFAULT '{}'",
            "ALTER TABLE analytics_usagerollup ALTER COLUMN property_values DROP DEFAULT",
        ),
        migrations.AddConstraint(
            model_name="usagerollup",
            constraint=models.UniqueConstraint(
                fields=(
                    "meter",
                    "external_customer_id",
                    "hour",
                    "source",
                    "group_value",
                    "property_values",
                ),
                name="rollup_unique_key",
                nulls_distinct=False,
            ),
        ),
    ]
