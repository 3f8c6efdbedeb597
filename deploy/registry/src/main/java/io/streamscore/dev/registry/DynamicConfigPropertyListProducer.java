package io.streamscore.dev.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.List;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;
import javax.inject.Singleton;

/**
 * The list of Apicurio Registry's runtime-editable settings, which the build step
 * apicurio-common-app-components-config-index-deployment makes in Apicurio's own build. That
 * module is not on Maven Central, so the list is empty here: no setting can be changed at run
 * time through the registry's admin API, and every setting keeps its configured value
 * (deploy/registry/README.md).
 */
@ApplicationScoped
public class DynamicConfigPropertyListProducer {
    @Produces
    @Singleton
    DynamicConfigPropertyList dynamicConfigPropertyList() {
        return new DynamicConfigPropertyList(List.of());
    }
}
