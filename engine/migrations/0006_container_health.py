from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("engine", "0005_volumes"),
    ]

    operations = [
        migrations.AddField(
            model_name="container",
            name="health",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
