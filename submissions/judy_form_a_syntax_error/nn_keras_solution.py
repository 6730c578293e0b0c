#
# Judy Kowalski
# nn_keras_solution.py -- create_and_train_model and test_model
#

import numpy as np
import tensorflow as tf


def create_and_train_model(training_inputs, training_labels, layers,
                           units_per_layer, epochs, hidden_activations):
    # number of output units = number of classes
    num_classes = int(np.max(training_labels)) + 1

    model = tf.keras.Sequential()
    model.add(tf.keras.Input(shape=(training_inputs.shape[1],)))

    # layers - 2 hidden layers (layers counts the input and output layers)
    for layer_index in range(layers - 2)
        model.add(tf.keras.layers.Dense(units_per_layer[layer_index],
                                        activation=hidden_activations[layer_index]))

    model.add(tf.keras.layers.Dense(num_classes, activation='softmax'))

    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=['accuracy'])
    model.fit(training_inputs, training_labels, epochs=epochs, verbose=0)
    return model


def test_model(model, test_inputs, test_labels, ints_to_labels):
    outputs = model.predict(test_inputs, verbose=0)
    labels = np.asarray(test_labels).flatten()
    sum_accuracy = 0.0

    for i in range(len(labels)):
        output = outputs[i]
        true_class = int(labels[i])
        predicted_class = int(np.argmax(output))
        ties = np.nonzero(output == output[predicted_class])[0]
        if true_class in ties:
            accuracy = 1.0 / len(ties)
        else:
            accuracy = 0.0
        sum_accuracy += accuracy
        print('ID=%5d, predicted=%10s, true=%10s, accuracy=%4.2f'
              % (i, ints_to_labels[predicted_class], ints_to_labels[true_class],
                 accuracy))

    accuracy = sum_accuracy / len(labels)
    print('classification accuracy=%6.4f' % accuracy)
    return accuracy
